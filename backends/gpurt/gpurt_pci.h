/* PCI vendor and device ids from sysfs: the runtimes give the bus position, not the ids. */
#ifndef GPUMEM_GPURT_PCI_H
#define GPUMEM_GPURT_PCI_H

#include <stddef.h>
#include <stdint.h>

/* The PCI device id of the device at bus_id (as the runtimes write it: "0000:3B:00.0"), when
 * sysfs has it and names the expected vendor there; else 0. A container or a virtual machine
 * may show another bus, or none: the vendor check keeps another device's id out. */
uint32_t gpurt_pci_device_id(const char *bus_id, uint32_t vendor_id);

struct gpurt_runtime;

/* The kernel driver's version from sysfs (/sys/module/nvidia/version: "NVIDIA 580.159.04"),
 * or "" where the runtime names no module or sysfs does not have it. */
void gpurt_kernel_driver_version(const struct gpurt_runtime *rt, char *text, size_t size);

#endif
