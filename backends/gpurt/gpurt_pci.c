#include "gpurt_pci.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

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
