/* GPUMEM_DUMP_ON_CLOSE: a device's dump and its picture when the device closes, so users get the
 * picture without changing code. */
#include "close_dump.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "env.h"
#include "error.h"
#include "log.h"
#include "picture.h"

/* 0, or the errno of what failed. */
static int write_file(const char *path, const char *text, size_t length)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return errno;
    int error = fwrite(text, 1, length, f) == length ? 0 : errno ? errno : EIO;
    if (fclose(f) != 0 && !error)
        error = errno;
    return error;
}

/* PREFIX-<backend>-<index>-<n>.<extension>; 0 when the path is too long. */
static int close_path(char *path, size_t size, const char *prefix,
                      const gpumem_device_obj *device, unsigned long long n,
                      const char *extension)
{
    int w = snprintf(path, size, "%s-%s-%u-%llu.%s", prefix, device->properties.backend,
                     device->properties.device_index, n, extension);
    return w > 0 && (size_t)w < size;
}

/* 1 when written; else a warning. */
static int write_close_file(const char *path, const char *text, size_t length)
{
    int error = write_file(path, text, length);
    if (error)
        gpumem_log(GPUMEM_LOG_WARNING, "GPUMEM_DUMP_ON_CLOSE: cannot write %s: %s", path,
                   strerror(error));
    return !error;
}

void gpumem_close_dump(gpumem_device_obj *device)
{
    const char *prefix = gpumem_env_dump_on_close();
    if (!prefix)
        return;
    /* Numbered by the closes of the process, so that several devices, or one opened again,
     * never overwrite each other's files. */
    static _Atomic unsigned long long closes;
    unsigned long long n = atomic_fetch_add(&closes, 1) + 1;
    char json_path[4096], svg_path[4096];
    if (!close_path(json_path, sizeof json_path, prefix, device, n, "json") ||
        !close_path(svg_path, sizeof svg_path, prefix, device, n, "svg")) {
        gpumem_log(GPUMEM_LOG_WARNING, "GPUMEM_DUMP_ON_CLOSE: the prefix is too long for a "
                   "path (%zu characters)", strlen(prefix));
        return;
    }
    gpumem_json dump = {0}, svg = {0};
    gpumem_dump_device(device, &dump);
    if (dump.failed) {
        gpumem_log(GPUMEM_LOG_WARNING, "GPUMEM_DUMP_ON_CLOSE: no memory for the dump");
        gpumem_json_free(&dump);
        return;
    }
    int written = write_close_file(json_path, dump.text, dump.length);
    if (gpumem_picture_svg(dump.text, &svg) == GPUMEM_OK)
        written += write_close_file(svg_path, svg.text, svg.length);
    else
        gpumem_log(GPUMEM_LOG_WARNING, "GPUMEM_DUMP_ON_CLOSE: no picture of the dump: %s",
                   gpumem_last_error());
    gpumem_error_clear(); /* the close itself succeeds */
    if (written == 2)
        gpumem_log(GPUMEM_LOG_INFO, "GPUMEM_DUMP_ON_CLOSE: wrote %s and %s", json_path,
                   svg_path);
    gpumem_json_free(&svg);
    gpumem_json_free(&dump);
}
