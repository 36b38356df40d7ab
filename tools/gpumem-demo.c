/* gpumem-demo: a tour of the API on the default device (GPUMEM_BACKEND chooses it). It is the
 * source of the README's short example, so main() reads top to bottom as that example does;
 * helpers below it only print and check. Any failure ends the program with the library's
 * message: the operating system takes back what was left open. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "gpumem/gpumem.h"

#define MiB (1ull << 20)

static void check(gpumem_result r, const char *what)
{
    if (r == GPUMEM_OK)
        return;
    fprintf(stderr, "gpumem-demo: %s: %s: %s\n", what, gpumem_result_string(r),
            gpumem_last_error());
    exit(1);
}

static void expect(int ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "gpumem-demo: %s: the data differs\n", what);
    exit(1);
}

static void *host_alloc(uint64_t size)
{
    void *p = calloc(1, size);
    if (!p) {
        fprintf(stderr, "gpumem-demo: out of host memory\n");
        exit(1);
    }
    return p;
}

/* 32-bit words that differ everywhere, so a misplaced byte cannot go unnoticed. */
static void fill_pattern(uint32_t *words, uint64_t count, uint32_t seed)
{
    for (uint64_t i = 0; i < count; i++)
        words[i] = (uint32_t)(i * 2654435761u) ^ seed;
}

static void print_buffer(const char *name, gpumem_buffer buffer)
{
    gpumem_buffer_info info;
    check(gpumem_buffer_info_get(buffer, &info), "buffer info");
    char size[32];
    printf("  %-5s %9s: page %u, offset %" PRIu64 ", left padding %" PRIu64 "%s\n", name,
           format_bytes(info.size, size, sizeof size), info.page, info.offset, info.left_padding,
           info.dedicated ? ", dedicated page" : "");
}

static void print_pool(gpumem_pool pool, const gpumem_device_properties *props)
{
    gpumem_pool_stats s;
    check(gpumem_pool_stats_get(pool, &s), "pool stats");
    char flags[96], reserved[32], used[32], largest[32];
    printf("pool: memory type %u (%s)\n", s.memory_type,
           format_memory_flags(props->memory_types[s.memory_type].flags, flags, sizeof flags));
    printf("  reserved %s in %" PRIu64 " pages, used %s by %" PRIu64
           " buffers, largest free range %s\n",
           format_bytes(s.reserved_bytes, reserved, sizeof reserved), s.page_count,
           format_bytes(s.used_bytes, used, sizeof used), s.allocation_count,
           format_bytes(s.largest_free_range, largest, sizeof largest));
}

/* Writes through a mapping when the pool's memory is host-visible, and reads it back through
 * gpumem to show both paths see the same bytes. */
static void demo_map(gpumem_buffer buffer, uint32_t memory_flags)
{
    if (!(memory_flags & GPUMEM_MEMORY_HOST_VISIBLE)) {
        printf("map: skipped, the pool's memory is not host-visible\n");
        return;
    }
    static const char message[] = "written through a mapping";
    void *data;
    check(gpumem_buffer_map(buffer, &data), "map");
    memcpy(data, message, sizeof message);
    check(gpumem_buffer_flush(buffer, 0, sizeof message), "flush"); /* a no-op when coherent */
    check(gpumem_buffer_unmap(buffer), "unmap");
    char back[sizeof message];
    check(gpumem_buffer_read(buffer, 0, back, sizeof back), "read after map");
    expect(memcmp(back, message, sizeof message) == 0, "map");
    printf("map: \"%s\", read back through gpumem\n", back);
}

/* An image beside the buffers: a 64x48 RGBA image written whole, a 16x16 box of it copied
 * elsewhere in it, and the copy read back. It stays for the dump. */
static void demo_image(gpumem_pool pool)
{
    enum { W = 64, H = 48, BOX = 16 };
    gpumem_image_desc desc = {.type = GPUMEM_IMAGE_2D,
                              .format = GPUMEM_FORMAT_R8G8B8A8_UNORM,
                              .width = W,
                              .height = H,
                              .name = "picture"};
    gpumem_image image;
    check(gpumem_image_create(pool, &desc, &image), "image create");
    static uint32_t texels[W * H], back[BOX * BOX];
    for (uint32_t i = 0; i < W * H; i++)
        texels[i] = i * 2654435761u;
    gpumem_image_region all = {.width = W, .height = H};
    check(gpumem_image_write(image, &all, texels), "image write");
    gpumem_image_region box = {.x = 8, .y = 4, .width = BOX, .height = BOX};
    gpumem_image_region to = {.x = 40, .y = 30};
    check(gpumem_image_copy(image, &box, image, &to), "image copy");
    gpumem_image_region moved = {.x = 40, .y = 30, .width = BOX, .height = BOX};
    check(gpumem_image_read(image, &moved, back), "image read");
    for (uint32_t y = 0; y < BOX; y++)
        expect(memcmp(&back[y * BOX], &texels[(4 + y) * W + 8], BOX * 4) == 0,
               "the image's copied box");
    gpumem_buffer_info info;
    check(gpumem_image_info_get(image, &info), "image info");
    printf("image: %ux%u RGBA at offset %" PRIu64 " of page %u (%" PRIu64 " bytes); a %ux%u box "
           "copied and verified\n",
           W, H, info.offset, info.page, info.size, BOX, BOX);
}

/* An asynchronous round trip on a stream of our own: the read's destination is only filled
 * once the stream is synchronized. */
static void demo_stream(gpumem_device device, gpumem_buffer buffer, uint64_t size)
{
    uint32_t *out = host_alloc(size), *in = host_alloc(size);
    fill_pattern(out, size / 4, 0x5eed);
    gpumem_stream stream;
    check(gpumem_stream_create(device, &stream), "stream create");
    check(gpumem_stream_write(stream, buffer, 0, out, size), "stream write");
    check(gpumem_stream_read(stream, buffer, 0, in, size), "stream read");
    check(gpumem_stream_synchronize(stream), "stream synchronize");
    expect(memcmp(in, out, size) == 0, "stream round trip");
    check(gpumem_stream_destroy(stream), "stream destroy");
    printf("stream: wrote and read back %" PRIu64 " bytes asynchronously\n", size);
    free(out);
    free(in);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gpumem-demo [--dump FILE]\n"
            "       gpumem-demo --version | --help\n"
            "A short tour of gpumem on the default device (GPUMEM_BACKEND, GPUMEM_DEVICE choose\n"
            "it): a pool, four buffers, transfers checked byte for byte, a mapping, a stream.\n"
            "  --dump FILE  write the device's JSON dump (docs/json.md) to FILE\n"
            "  --version  the version (" GPUMEM_VERSION_STRING ")\n"
            "  --help     this text\n"
            "Exit status: 0 ok, 1 error, 2 usage.\n");
}

static const char *dump_path; /* --dump FILE */

/* Returns -1 to run the demo, else the exit status. */
static int parse_arguments(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "gpumem-demo: --dump needs a file name\n");
                usage(stderr);
                return 2;
            }
            dump_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("gpumem-demo %s\n", GPUMEM_VERSION_STRING);
            return 0;
        } else {
            fprintf(stderr, "gpumem-demo: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    format_check_stdout_at_exit("gpumem-demo");
    int status = parse_arguments(argc, argv);
    if (status >= 0)
        return status;

    /* The device: GPUMEM_BACKEND and GPUMEM_DEVICE choose it, else the best available. */
    gpumem_device device;
    gpumem_device_properties props;
    check(gpumem_device_open(NULL, &device), "device open");
    check(gpumem_device_properties_get(device, &props), "device properties");
    printf("device: %s (backend %s, device %u)\n", props.name, props.backend,
           props.device_index);

    /* A paged pool, preferring device-local memory; buffers are suballocated in its pages. */
    gpumem_pool_desc pool_desc = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "demo"};
    gpumem_pool pool;
    check(gpumem_pool_create(device, &pool_desc, &pool), "pool create");

    /* Four sizes: the largest is over half a page (32 MiB), so it gets a page of its own. */
    const uint64_t sizes[] = {1000, 64 << 10, 1 * MiB, 20 * MiB};
    const char *names[] = {"small", "64k", "1m", "large"};
    gpumem_buffer buffers[4];
    for (int i = 0; i < 4; i++) {
        gpumem_buffer_desc desc = {.size = sizes[i], .name = names[i]};
        check(gpumem_buffer_create(pool, &desc, &buffers[i]), "buffer create");
    }

    /* Host -> 1m, 1m -> large at an offset, large -> host: the pattern must survive. */
    uint32_t *pattern = host_alloc(MiB), *back = host_alloc(MiB);
    fill_pattern(pattern, MiB / 4, 0xc0ffee);
    check(gpumem_buffer_write(buffers[2], 0, pattern, MiB), "write");
    check(gpumem_buffer_copy(buffers[2], 0, buffers[3], 4096, MiB), "copy");
    check(gpumem_buffer_read(buffers[3], 4096, back, MiB), "read");
    expect(memcmp(pattern, back, MiB) == 0, "write, copy, read");
    printf("write, copy, read: 1 MiB verified\n");
    free(pattern);
    free(back);

    gpumem_pool_stats stats;
    check(gpumem_pool_stats_get(pool, &stats), "pool stats");
    demo_map(buffers[0], props.memory_types[stats.memory_type].flags);
    demo_stream(device, buffers[1], 64 << 10);
    demo_image(pool);

    print_pool(pool, &props);
    printf("buffers:\n");
    for (int i = 0; i < 4; i++)
        print_buffer(names[i], buffers[i]);

    /* The summary, for people: what each pool holds and how scattered its free room is. */
    uint64_t summary_length = 0;
    check(gpumem_device_summary(device, NULL, 0, &summary_length), "summary");
    char *summary = host_alloc(summary_length + 1);
    check(gpumem_device_summary(device, summary, summary_length + 1, &summary_length), "summary");
    printf("summary:\n%s", summary);
    free(summary);

    /* The dump describes the device, its pools, pages and allocations, for tools. */
    uint64_t length = 0;
    check(gpumem_device_dump_json(device, NULL, 0, &length), "dump");
    if (dump_path) {
        char *text = host_alloc(length + 1);
        check(gpumem_device_dump_json(device, text, length + 1, &length), "dump");
        FILE *f = fopen(dump_path, "w");
        int written = f && fwrite(text, 1, length, f) == length;
        int error = errno;
        if (f && fclose(f) != 0 && written) {
            written = 0;
            error = errno;
        }
        if (!written) {
            fprintf(stderr, "gpumem-demo: cannot write the dump to %s: %s\n", dump_path,
                    strerror(error));
            exit(1);
        }
        printf("JSON dump: %" PRIu64 " bytes, written to %s\n", length, dump_path);
        free(text);
    } else {
        printf("JSON dump: %" PRIu64 " bytes (gpumem-demo --dump FILE writes it)\n", length);
    }

    /* Destroying the pool releases its buffers; their handles then say so instead of crashing. */
    check(gpumem_buffer_destroy(buffers[0]), "buffer destroy");
    check(gpumem_pool_destroy(pool), "pool destroy");
    gpumem_buffer_info info;
    printf("a buffer of the destroyed pool: %s\n",
           gpumem_result_string(gpumem_buffer_info_get(buffers[1], &info)));
    check(gpumem_device_close(device), "device close");
    printf("done\n");
    return 0;
}
