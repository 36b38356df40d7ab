#include "gpurt_pci.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpurt_runtime.h"

static int read_hex(const char *folder, const char *file, uint32_t *value)
{
    char path[160], text[32];
    snprintf(path, sizeof path, "%s/%s", folder, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    char *end;
    unsigned long v = strtoul(text, &end, 16);
    if (end == text)
        return -1;
    *value = (uint32_t)v;
    return 0;
}

uint32_t gpurt_pci_device_id(const char *bus_id, uint32_t vendor_id)
{
    char folder[96];
    int n = snprintf(folder, sizeof folder, "/sys/bus/pci/devices/");
    for (const char *c = bus_id; *c && n < (int)sizeof folder - 1; c++)
        folder[n++] = (char)tolower((unsigned char)*c); /* sysfs names are lower case */
    folder[n] = '\0';
    uint32_t vendor, device;
    if (read_hex(folder, "vendor", &vendor) == 0 && vendor == vendor_id &&
        read_hex(folder, "device", &device) == 0)
        return device;
    return 0;
}

void gpurt_kernel_driver_version(const gpurt_runtime *rt, char *text, size_t size)
{
    text[0] = 0;
    if (!rt->kernel_module)
        return;
    char path[96], version[48];
    snprintf(path, sizeof path, "/sys/module/%s/version", rt->kernel_module);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(version, sizeof version, f)) {
        version[strcspn(version, "\n")] = 0;
        if (version[0])
            snprintf(text, size, "%s %s", rt->kernel_driver_name, version);
    }
    fclose(f);
}
