/* The picture of a device dump: an SVG that shows each pool's pages as bars, with every buffer's
 * allocation a colored span at its offset and in proportion to its size, so that fragmentation
 * is seen at a glance; hovering a span shows its numbers (an SVG <title>).
 *
 * It is drawn from the dump's text rather than from live objects, so that a dump saved on
 * another machine, or by an older program, draws the same, and so that drawing takes no lock.
 * The text is public API input: everything the picture uses is checked first, and a dump that
 * does not hold it is an error that names the field (as "pools[0].pages[2].size"). */
#include "picture.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "call.h"
#include "dump.h"
#include "json_read.h"

#define U64(x) ((unsigned long long)(x))
#define TRY(expression)                                                     \
    do {                                                                    \
        gpumem_result try_r_ = (expression);                                \
        if (try_r_ != GPUMEM_OK)                                            \
            return try_r_;                                                  \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * The dump, as the picture needs it
 * ------------------------------------------------------------------------------------------- */

typedef struct pic_range {
    uint64_t offset, size;
    int used;
} pic_range;

typedef struct pic_buffer {
    const gpumem_json_value *name;
    uint64_t handle, page, offset, size, left_padding, allocation_size;
    int is_image;
    uint64_t width, height, depth, layers, levels; /* images */
} pic_buffer;

typedef struct pic_page {
    uint64_t id, size;
    int dedicated, imported;
    size_t range_count, buffer_count;
    pic_range *ranges;
    pic_buffer *buffers; /* the first of the pool's buffers on this page (they are sorted) */
} pic_page;

typedef struct pic_pool {
    const gpumem_json_value *name, *kind;
    uint64_t memory_type, page_size, reserved_bytes, used_bytes, allocations;
    size_t page_count, buffer_count;
    size_t unplaced; /* buffers on no listed page: a native pool's, which the runtime places */
    pic_page *pages;     /* by id */
    pic_buffer *buffers; /* by page, then allocation start */
} pic_pool;

typedef struct pic_dump {
    const gpumem_json_value *name, *backend;
    uint64_t device_index;
    size_t pool_count;
    pic_pool *pools;
} pic_dump;

static void dump_free(pic_dump *dump)
{
    for (size_t i = 0; i < dump->pool_count; i++) {
        pic_pool *pool = &dump->pools[i];
        for (size_t j = 0; j < pool->page_count; j++)
            gpumem_free(pool->pages[j].ranges);
        gpumem_free(pool->pages);
        gpumem_free(pool->buffers);
    }
    gpumem_free(dump->pools);
    *dump = (pic_dump){0};
}

/* --- fields --- */

static gpumem_result bad(const char *format, ...) __attribute__((format(printf, 1, 2)));

static gpumem_result bad(const char *format, ...)
{
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s", message);
}

/* The member `key` of the object at `where` (its path in the dump; "" for the top), which must
 * be of `kind`. */
static gpumem_result field(const gpumem_json_value *object, const char *where, const char *key,
                           gpumem_json_kind kind, const gpumem_json_value **out)
{
    const gpumem_json_value *v = gpumem_json_member(object, key);
    const char *dot = *where ? "." : "";
    if (!v)
        return bad("the dump has no field \"%s%s%s\"", where, dot, key);
    if (v->kind != kind)
        return bad("the dump's field \"%s%s%s\" is %s, where it should be %s", where, dot, key,
                   gpumem_json_kind_name(v->kind), gpumem_json_kind_name(kind));
    *out = v;
    return GPUMEM_OK;
}

static gpumem_result count_field(const gpumem_json_value *object, const char *where,
                                 const char *key, uint64_t *out)
{
    const gpumem_json_value *v = NULL;
    TRY(field(object, where, key, GPUMEM_JSON_NUMBER, &v));
    if (!v->is_count)
        return bad("the dump's field \"%s%s%s\" is a number that is not a count (an integer from "
                   "0 to %llu)", where, *where ? "." : "", key, U64(UINT64_MAX));
    *out = v->count;
    return GPUMEM_OK;
}

static gpumem_result bool_field(const gpumem_json_value *object, const char *where,
                                const char *key, int *out)
{
    const gpumem_json_value *v = NULL;
    TRY(field(object, where, key, GPUMEM_JSON_BOOL, &v));
    *out = v->boolean;
    return GPUMEM_OK;
}

static gpumem_result string_field(const gpumem_json_value *object, const char *where,
                                  const char *key, const gpumem_json_value **out)
{
    return field(object, where, key, GPUMEM_JSON_STRING, out);
}

/* [offset, offset + size) within a page of page_size bytes. */
static gpumem_result within_page(const char *where, uint64_t offset, uint64_t size,
                                 uint64_t page_size)
{
    if (offset > page_size || size > page_size - offset)
        return bad("the dump's %s lies at [%llu, +%llu), past its page's end (%llu bytes)", where,
                   U64(offset), U64(size), U64(page_size));
    return GPUMEM_OK;
}

/* --- arrays --- */

typedef gpumem_result (*item_reader)(const gpumem_json_value *value, const char *where,
                                     void *item, const void *context);

/* The array `key` of `object`: an array of objects, each read by `read` into an array of
 * item_size items made here. *items and *count are set before the items are read, so that what
 * was made is freed whether or not reading succeeds. */
static gpumem_result read_items(const gpumem_json_value *object, const char *where,
                                const char *key, size_t item_size, item_reader read,
                                const void *context, void **items, size_t *count)
{
    const gpumem_json_value *array = NULL;
    *items = NULL;
    *count = 0;
    TRY(field(object, where, key, GPUMEM_JSON_ARRAY, &array));
    size_t n = 0;
    for (const gpumem_json_value *e = array->first; e; e = e->next)
        n++;
    if (!(*items = gpumem_alloc_zeroed(n ? n : 1, item_size)))
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for the picture");
    *count = n;
    size_t i = 0;
    for (const gpumem_json_value *e = array->first; e; e = e->next, i++) {
        char item[160];
        /* A longer path is cut in the message: the field names of a dump are short. */
        if (snprintf(item, sizeof item, "%s%s%s[%zu]", where, *where ? "." : "", key, i) < 0)
            item[0] = 0;
        if (e->kind != GPUMEM_JSON_OBJECT)
            return bad("the dump's field \"%s\" is %s, where it should be an object", item,
                       gpumem_json_kind_name(e->kind));
        TRY(read(e, item, (char *)*items + i * item_size, context));
    }
    return GPUMEM_OK;
}

/* --- ranges, pages, buffers, pools --- */

static gpumem_result read_range(const gpumem_json_value *v, const char *where, void *item,
                                const void *context)
{
    pic_range *range = item;
    const pic_page *page = context;
    TRY(count_field(v, where, "offset", &range->offset));
    TRY(count_field(v, where, "size", &range->size));
    TRY(bool_field(v, where, "used", &range->used));
    return within_page(where, range->offset, range->size, page->size);
}

static gpumem_result read_page(const gpumem_json_value *v, const char *where, void *item,
                               const void *context)
{
    pic_page *page = item;
    TRY(count_field(v, where, "id", &page->id));
    TRY(count_field(v, where, "size", &page->size));
    TRY(bool_field(v, where, "dedicated", &page->dedicated));
    if (gpumem_json_member(v, "imported")) /* written only when true */
        TRY(bool_field(v, where, "imported", &page->imported));
    void *ranges;
    gpumem_result r = read_items(v, where, "ranges", sizeof(pic_range), read_range, page,
                                 &ranges, &page->range_count);
    page->ranges = ranges;
    return r;
}

static gpumem_result read_buffer(const gpumem_json_value *v, const char *where, void *item,
                                 const void *context)
{
    pic_buffer *b = item;
    TRY(count_field(v, where, "handle", &b->handle));
    TRY(string_field(v, where, "name", &b->name));
    TRY(count_field(v, where, "page", &b->page));
    TRY(count_field(v, where, "offset", &b->offset));
    TRY(count_field(v, where, "size", &b->size));
    TRY(count_field(v, where, "left_padding", &b->left_padding));
    TRY(count_field(v, where, "allocation_size", &b->allocation_size));
    const gpumem_json_value *image = NULL;
    if (gpumem_json_member(v, "image")) { /* written for images only */
        char at[128];
        snprintf(at, sizeof at, "%s.image", where);
        TRY(field(v, where, "image", GPUMEM_JSON_OBJECT, &image));
        b->is_image = 1;
        TRY(count_field(image, at, "width", &b->width));
        TRY(count_field(image, at, "height", &b->height));
        TRY(count_field(image, at, "depth", &b->depth));
        TRY(count_field(image, at, "layers", &b->layers));
        TRY(count_field(image, at, "levels", &b->levels));
    }
    if (b->left_padding > b->offset)
        return bad("the dump's \"%s\" has a left padding (%llu) larger than its offset "
                   "(%llu)", where, U64(b->left_padding), U64(b->offset));
    return GPUMEM_OK;
}

static int compare_pages(const void *a, const void *b)
{
    uint64_t x = ((const pic_page *)a)->id, y = ((const pic_page *)b)->id;
    return (x > y) - (x < y);
}

static int compare_buffers(const void *a, const void *b)
{
    const pic_buffer *x = a, *y = b;
    if (x->page != y->page)
        return (x->page > y->page) - (x->page < y->page);
    uint64_t s = x->offset - x->left_padding, t = y->offset - y->left_padding;
    return (s > t) - (s < t);
}

/* Gives each page its buffers: both arrays are sorted by page, so one walk does it. A buffer
 * whose page is not listed is a native pool's (the runtime placed it), counted and not drawn;
 * one on a listed page must lie within it. */
static gpumem_result place_buffers(pic_pool *pool, const char *where)
{
    size_t p = 0;
    for (size_t i = 0; i < pool->buffer_count; i++) {
        pic_buffer *b = &pool->buffers[i];
        while (p < pool->page_count && pool->pages[p].id < b->page)
            p++;
        if (p == pool->page_count || pool->pages[p].id != b->page) {
            pool->unplaced++;
            continue;
        }
        pic_page *page = &pool->pages[p];
        char buffer[192];
        snprintf(buffer, sizeof buffer, "buffer %llu (in \"%s\", on page %llu)", U64(b->handle),
                 where, U64(page->id));
        TRY(within_page(buffer, b->offset - b->left_padding, b->allocation_size, page->size));
        if (!page->buffers)
            page->buffers = b;
        page->buffer_count++;
    }
    return GPUMEM_OK;
}

static gpumem_result sort_pool(pic_pool *pool, const char *where)
{
    qsort(pool->pages, pool->page_count, sizeof *pool->pages, compare_pages);
    for (size_t i = 1; i < pool->page_count; i++)
        if (pool->pages[i].id == pool->pages[i - 1].id)
            return bad("the dump has two pages with the id %llu in \"%s\"", U64(pool->pages[i].id),
                       where);
    qsort(pool->buffers, pool->buffer_count, sizeof *pool->buffers, compare_buffers);
    return place_buffers(pool, where);
}

static gpumem_result read_pool(const gpumem_json_value *v, const char *where, void *item,
                               const void *context)
{
    pic_pool *pool = item;
    TRY(string_field(v, where, "name", &pool->name));
    TRY(string_field(v, where, "kind", &pool->kind));
    TRY(count_field(v, where, "memory_type", &pool->memory_type));
    TRY(count_field(v, where, "page_size", &pool->page_size));
    TRY(count_field(v, where, "reserved_bytes", &pool->reserved_bytes));
    TRY(count_field(v, where, "used_bytes", &pool->used_bytes));
    TRY(count_field(v, where, "allocations", &pool->allocations));
    void *items;
    gpumem_result r = read_items(v, where, "pages", sizeof(pic_page), read_page, NULL, &items,
                                 &pool->page_count);
    pool->pages = items;
    TRY(r);
    r = read_items(v, where, "buffers", sizeof(pic_buffer), read_buffer, NULL, &items,
                   &pool->buffer_count);
    pool->buffers = items;
    TRY(r);
    return sort_pool(pool, where);
}

static int string_is(const gpumem_json_value *v, const char *text)
{
    return v->length == strlen(text) && memcmp(v->string, text, v->length) == 0;
}

/* At most out_size - 1 bytes of a string of the dump for a message (to its first NUL): control
 * characters as '?', and cut where a UTF-8 character begins. */
static void printable(const char *text, char *out, size_t out_size)
{
    size_t n = gpumem_utf8_cut(text, out_size);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7F ? '?' : text[i];
    out[n] = 0;
}

/* What says the text is a dump this library draws: a dump of this library's schema version. */
static gpumem_result read_schema(const gpumem_json_value *root)
{
    const gpumem_json_value *schema = NULL;
    uint64_t version;
    TRY(string_field(root, "", "schema", &schema));
    if (!string_is(schema, GPUMEM_DUMP_SCHEMA)) {
        char shown[48];
        printable(schema->string, shown, sizeof shown);
        return bad("the text's schema is \"%s\", not \"" GPUMEM_DUMP_SCHEMA "\" (a device "
                   "dump, gpumem_device_dump_json)", shown);
    }
    TRY(count_field(root, "", "schema_version", &version));
    if (version != GPUMEM_DUMP_SCHEMA_VERSION)
        return bad("the dump's schema_version is %llu; this library reads version %d",
                   U64(version), GPUMEM_DUMP_SCHEMA_VERSION);
    return GPUMEM_OK;
}

static gpumem_result read_dump(const gpumem_json_value *root, pic_dump *dump)
{
    if (root->kind != GPUMEM_JSON_OBJECT)
        return bad("the dump is %s, where it should be an object",
                   gpumem_json_kind_name(root->kind));
    TRY(read_schema(root));
    TRY(string_field(root, "", "name", &dump->name));
    TRY(string_field(root, "", "backend", &dump->backend));
    TRY(count_field(root, "", "device_index", &dump->device_index));
    void *pools;
    gpumem_result r = read_items(root, "", "pools", sizeof(pic_pool), read_pool, NULL, &pools,
                                 &dump->pool_count);
    dump->pools = pools;
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Drawing
 * ------------------------------------------------------------------------------------------- */

/* Layout, in pixels. The picture is at most 1200 px wide, so that a browser window of that width
 * shows it whole. */
#define MARGIN 16
#define LABEL_WIDTH 160
#define BAR_X (MARGIN + LABEL_WIDTH)
#define BAR_HEIGHT 26
#define ROW_HEIGHT 36
#define POOL_HEADING 40
#define HEADER_HEIGHT 86
#define WIDTH (BAR_X + GPUMEM_PICTURE_BAR_WIDTH + MARGIN)

#define FREE_COLOR "#e4e4e4"
#define USED_COLOR "#7a7a7a"
#define OUTLINE_COLOR "#505050"
#define DEDICATED_COLOR "#1a1a1a"

/* --- text --- */

/* A number with two decimals. Not "%.2f": printf follows the program's locale, and a decimal
 * comma would make the SVG unreadable. */
static void append_decimal(gpumem_json *out, double value)
{
    if (!(value > 0)) /* also NaN */
        value = 0;
    unsigned long long hundredths = (unsigned long long)llround(value * 100);
    gpumem_json_append(out, "%llu.%02llu", hundredths / 100, hundredths % 100);
}

static void append_attribute(gpumem_json *out, const char *name, double value)
{
    gpumem_json_append(out, " %s=\"", name);
    append_decimal(out, value);
    gpumem_json_append(out, "\"");
}

/* "4 MiB", "1.5 KiB", "100 B": one decimal, in integers for the same reason as above. */
static void format_size(uint64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int unit = 0;
    while (unit < 6 && bytes >> (10 * (unit + 1)))
        unit++;
    uint64_t whole = bytes >> (10 * unit);
    uint64_t tenths = unit ? ((bytes - (whole << (10 * unit))) * 10) >> (10 * unit) : 0;
    if (tenths)
        snprintf(out, size, "%llu.%llu %s", U64(whole), U64(tenths), units[unit]);
    else
        snprintf(out, size, "%llu %s", U64(whole), units[unit]);
}

/* The character at s is one XML may not hold: a control character but tab and newline, or
 * U+FFFE and U+FFFF. The reader let only well-formed UTF-8 through. */
static size_t not_xml(const unsigned char *s, size_t left)
{
    if (*s < 0x20 && *s != '\t' && *s != '\n')
        return 1;
    if (left >= 3 && s[0] == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
        return 3;
    return 0;
}

/* `length` bytes of text, in pieces that printf's int precision can count. */
static void append_run(gpumem_json *out, const char *text, size_t length)
{
    while (length) {
        size_t piece = length < (1u << 30) ? length : (1u << 30);
        gpumem_json_append(out, "%.*s", (int)piece, text);
        text += piece;
        length -= piece;
    }
}

/* Appends text escaped for XML, in runs, so that a long name costs a few appends. Names may
 * hold < > & " ' (any of which would end an attribute or start markup) and, through \u escapes,
 * characters XML does not allow: those become U+FFFD, as the dump's writer does with bytes
 * that are not UTF-8. */
static void append_escaped(gpumem_json *out, const char *text, size_t length)
{
    static const char *const entities[] = {['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;",
                                           ['"'] = "&quot;", ['\''] = "&#39;"};
    size_t run = 0;
    for (size_t i = 0; i < length;) {
        const unsigned char *s = (const unsigned char *)text + i;
        size_t bad_length = not_xml(s, length - i);
        const char *entity = *s < sizeof entities / sizeof *entities ? entities[*s] : NULL;
        if (!bad_length && !entity) {
            i++;
            continue;
        }
        append_run(out, text + run, i - run);
        gpumem_json_append(out, "%s", entity ? entity : "\xEF\xBF\xBD");
        i += bad_length ? bad_length : 1;
        run = i;
    }
    append_run(out, text + run, length - run);
}

static void append_name(gpumem_json *out, const gpumem_json_value *name, const char *none)
{
    if (name->length)
        append_escaped(out, name->string, name->length);
    else
        gpumem_json_append(out, "%s", none);
}

static void text_open(gpumem_json *out, double x, double y, const char *style)
{
    gpumem_json_append(out, "<text");
    append_attribute(out, "x", x);
    append_attribute(out, "y", y);
    gpumem_json_append(out, "%s%s>", *style ? " " : "", style);
}

/* --- shapes --- */

static void rect_open(gpumem_json *out, const char *class_name, double x, double y, double width,
                      double height)
{
    gpumem_json_append(out, "<rect class=\"%s\"", class_name);
    append_attribute(out, "x", x);
    append_attribute(out, "y", y);
    append_attribute(out, "width", width);
    append_attribute(out, "height", height);
}

/* A buffer's color, the same in every picture: a hue from its handle, mixed (splitmix64's
 * finaliser) so that neighbouring handles get far-apart hues, pale enough for dark text. */
static void color_of(uint64_t handle, char out[8])
{
    uint64_t h = handle;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    double hue = (double)(h % 360) / 60.0, saturation = 0.55 + (double)(h >> 20 & 15) / 50.0;
    double lightness = 0.60 + (double)(h >> 28 & 7) / 100.0;
    double c = (1 - fabs(2 * lightness - 1)) * saturation;
    double x = c * (1 - fabs(fmod(hue, 2) - 1)), m = lightness - c / 2;
    double rgb[6][3] = {{c, x, 0}, {x, c, 0}, {0, c, x}, {0, x, c}, {x, 0, c}, {c, 0, x}};
    const double *v = rgb[(int)hue % 6];
    snprintf(out, 8, "#%02x%02x%02x", (unsigned)lround((v[0] + m) * 255),
             (unsigned)lround((v[1] + m) * 255), (unsigned)lround((v[2] + m) * 255));
}

/* --- a page --- */

/* Where a page's bar lies: a page of the pool's page size is BAR_WIDTH wide, a smaller one
 * (a dedicated page of a buffer under a page, an imported one) shorter in proportion; a larger
 * one is drawn BAR_WIDTH wide to its own scale, so that one big dedicated page does not shrink
 * the pool's other pages to slivers. */
typedef struct bar {
    double x, y, width;
    uint64_t size;
    int own_scale;
} bar;

static bar bar_of(const pic_pool *pool, const pic_page *page, double y)
{
    bar b = {BAR_X, y, GPUMEM_PICTURE_BAR_WIDTH, page->size, 0};
    if (pool->page_size && page->size < pool->page_size)
        b.width = GPUMEM_PICTURE_BAR_WIDTH * ((double)page->size / (double)pool->page_size);
    b.own_scale = pool->page_size && page->size > pool->page_size;
    if (b.width < 1)
        b.width = 1;
    return b;
}

static double x_of(const bar *b, uint64_t offset)
{
    return b->size ? b->x + b->width * ((double)offset / (double)b->size) : b->x;
}

static double width_of(const bar *b, uint64_t size, double least)
{
    double w = b->size ? b->width * ((double)size / (double)b->size) : 0;
    return w < least ? least : w;
}

/* Free ranges light grey; used ones dark grey, under the buffers, so that what shows of them is
 * used memory no buffer of the dump accounts for (a dedicated page's rest, a destroy a stream
 * has not reached yet). */
static void draw_range(gpumem_json *out, const bar *b, const pic_range *range)
{
    rect_open(out, range->used ? "used" : "free", x_of(b, range->offset), b->y,
              width_of(b, range->size, range->used ? 0 : 1), BAR_HEIGHT);
    gpumem_json_append(out, " fill=\"%s\"><title>%s: offset %llu, size %llu</title></rect>\n",
                       range->used ? USED_COLOR : FREE_COLOR, range->used ? "used" : "free",
                       U64(range->offset), U64(range->size));
}

/* Hatching over a buffer's color: its left padding, or the allocation's bytes after it. */
static void draw_padding(gpumem_json *out, const bar *b, const pic_buffer *buffer,
                         uint64_t offset, uint64_t size, const char *what)
{
    if (!size)
        return;
    rect_open(out, "padding", x_of(b, offset), b->y, width_of(b, size, 0), BAR_HEIGHT);
    gpumem_json_append(out, " fill=\"url(#gpumem-padding)\"><title>");
    append_name(out, buffer->name, "(no name)");
    gpumem_json_append(out, ": %s, %llu bytes</title></rect>\n", what, U64(size));
}

/* The name inside the span, where it fits (about 7 px a character); the title has it anyway. */
static void draw_label(gpumem_json *out, const bar *b, const pic_buffer *buffer, double x,
                       double width)
{
    size_t n = buffer->name->length;
    if (!n || (double)n * 7 + 8 > width)
        return;
    text_open(out, x + 4, b->y + BAR_HEIGHT / 2.0 + 4, "font-size=\"11\" pointer-events=\"none\"");
    append_escaped(out, buffer->name->string, n);
    gpumem_json_append(out, "</text>\n");
}

static void draw_buffer(gpumem_json *out, const bar *b, const pic_buffer *buffer)
{
    uint64_t start = buffer->offset - buffer->left_padding; /* the checks keep these in the */
    uint64_t end = start + buffer->allocation_size;          /* page, without overflow */
    uint64_t padding = buffer->left_padding < buffer->allocation_size ? buffer->left_padding
                                                                      : buffer->allocation_size;
    uint64_t rest = buffer->allocation_size - padding;
    uint64_t after = rest > buffer->size ? rest - buffer->size : 0;
    char color[8];
    color_of(buffer->handle, color);
    double x = x_of(b, start), width = width_of(b, buffer->allocation_size, 1);
    rect_open(out, "buffer", x, b->y, width, BAR_HEIGHT);
    gpumem_json_append(out, " data-handle=\"%llu\" fill=\"%s\" stroke=\"#ffffff\""
                       " stroke-width=\"1\"><title>",
                       U64(buffer->handle), color);
    append_name(out, buffer->name, "(no name)");
    if (buffer->is_image)
        gpumem_json_append(out, " (image %llux%llux%llu, %llu layers, %llu levels)",
                           U64(buffer->width), U64(buffer->height), U64(buffer->depth),
                           U64(buffer->layers), U64(buffer->levels));
    gpumem_json_append(out,
                       " (handle %llu)\noffset %llu, size %llu\nleft padding %llu, "
                       "allocation size %llu (from offset %llu)</title></rect>\n",
                       U64(buffer->handle), U64(buffer->offset), U64(buffer->size),
                       U64(buffer->left_padding), U64(buffer->allocation_size), U64(start));
    draw_padding(out, b, buffer, start, padding, "left padding");
    draw_padding(out, b, buffer, end - after, after,
                 "the allocation's bytes after the buffer (rounding, guard margins)");
    draw_label(out, b, buffer, x, width);
}

static uint64_t free_bytes(const pic_page *page)
{
    uint64_t total = 0;
    for (size_t i = 0; i < page->range_count; i++)
        if (!page->ranges[i].used) /* overlapping ranges could pass the page's size: capped */
            total = page->ranges[i].size < page->size - total ? total + page->ranges[i].size
                                                              : page->size;
    return total;
}

/* Two lines left of the bar: the page's id and size; then what kind it is, or its buffers and
 * how much of it is free. */
static void draw_page_label(gpumem_json *out, const pic_page *page, const bar *b)
{
    char size[32];
    format_size(page->size, size, sizeof size);
    text_open(out, MARGIN, b->y + 11, "font-weight=\"bold\"");
    gpumem_json_append(out, "page %llu: %s</text>\n", U64(page->id), size);
    text_open(out, MARGIN, b->y + 25, "font-size=\"11\" fill=\"#444444\"");
    uint64_t percent = page->size ? free_bytes(page) * 100.0 / (double)page->size + 0.5 : 0;
    gpumem_json_append(out, "%s%s%zu buffer%s, %llu%% free%s</text>\n",
                       page->imported ? "imported, " : "",
                       page->dedicated && !page->imported ? "dedicated, " : "",
                       page->buffer_count, page->buffer_count == 1 ? "" : "s", U64(percent),
                       b->own_scale ? " (own scale)" : "");
}

/* The outline, on top: solid for a shared page, dashed and heavier for a dedicated one. */
static void draw_outline(gpumem_json *out, const pic_page *page, const bar *b)
{
    rect_open(out, "bar", b->x, b->y, b->width, BAR_HEIGHT);
    if (page->dedicated)
        gpumem_json_append(out, " fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\""
                           " stroke-dasharray=\"8 4\"/>\n", DEDICATED_COLOR);
    else
        gpumem_json_append(out, " fill=\"none\" stroke=\"%s\" stroke-width=\"1\"/>\n",
                           OUTLINE_COLOR);
}

static void draw_page(gpumem_json *out, const pic_pool *pool, const pic_page *page, double y)
{
    bar b = bar_of(pool, page, y);
    gpumem_json_append(out,
                       "<g class=\"page%s\" data-page-id=\"%llu\" data-page-size=\"%llu\">\n",
                       page->dedicated ? " dedicated" : "", U64(page->id), U64(page->size));
    draw_page_label(out, page, &b);
    for (size_t i = 0; i < page->range_count; i++)
        draw_range(out, &b, &page->ranges[i]);
    for (size_t i = 0; i < page->buffer_count; i++)
        draw_buffer(out, &b, &page->buffers[i]);
    draw_outline(out, page, &b);
    gpumem_json_append(out, "</g>\n");
}

/* --- pools --- */

static void draw_pool_heading(gpumem_json *out, const pic_pool *pool, double y)
{
    char page_size[32], reserved[32], used[32];
    format_size(pool->page_size, page_size, sizeof page_size);
    format_size(pool->reserved_bytes, reserved, sizeof reserved);
    format_size(pool->used_bytes, used, sizeof used);
    text_open(out, MARGIN, y + 26, "font-size=\"14\"");
    gpumem_json_append(out, "<tspan font-weight=\"bold\">pool ");
    append_name(out, pool->name, "(no name)");
    gpumem_json_append(out, "</tspan>  ");
    append_escaped(out, pool->kind->string, pool->kind->length);
    gpumem_json_append(out,
                       ", memory type %llu, %s pages: %zu page%s, %s reserved, %s used by %llu "
                       "allocation%s",
                       U64(pool->memory_type), page_size, pool->page_count,
                       pool->page_count == 1 ? "" : "s", reserved, used,
                       U64(pool->allocations), pool->allocations == 1 ? "" : "s");
    if (pool->unplaced)
        gpumem_json_append(out, "; %zu buffer%s the runtime placed, not drawn", pool->unplaced,
                           pool->unplaced == 1 ? "" : "s");
    gpumem_json_append(out, "</text>\n");
}

static double pool_height(const pic_pool *pool)
{
    size_t rows = pool->page_count ? pool->page_count : 1;
    return POOL_HEADING + (double)rows * ROW_HEIGHT;
}

static void draw_pool(gpumem_json *out, const pic_pool *pool, double y)
{
    gpumem_json_append(out, "<g class=\"pool\" data-name=\"");
    append_escaped(out, pool->name->string, pool->name->length);
    gpumem_json_append(out, "\">\n");
    draw_pool_heading(out, pool, y);
    y += POOL_HEADING;
    for (size_t i = 0; i < pool->page_count; i++, y += ROW_HEIGHT)
        draw_page(out, pool, &pool->pages[i], y);
    if (!pool->page_count) {
        text_open(out, BAR_X, y + 17, "fill=\"#666666\"");
        gpumem_json_append(out, "no pages</text>\n");
    }
    gpumem_json_append(out, "</g>\n");
}

/* --- the whole --- */

/* One legend entry: a swatch and its words; returns the x of the next. */
static double draw_key(gpumem_json *out, double x, double y, const char *fill,
                       const char *stroke, const char *words)
{
    rect_open(out, "key", x, y, 26, 14);
    gpumem_json_append(out, " fill=\"%s\" stroke=\"%s\"%s/>\n", fill, stroke,
                       strcmp(fill, "none") ? "" : " stroke-width=\"2\" stroke-dasharray=\"5 3\"");
    text_open(out, x + 32, y + 11, "");
    gpumem_json_append(out, "%s</text>\n", words);
    return x + 32 + 6.2 * (double)strlen(words) + 22;
}

static void draw_legend(gpumem_json *out, double y)
{
    double x = MARGIN;
    char color[8];
    color_of(1, color);
    x = draw_key(out, x, y, color, "#ffffff", "a buffer's allocation (a color per buffer)");
    rect_open(out, "key", x, y, 26, 14); /* the color that padding's hatching lies over */
    gpumem_json_append(out, " fill=\"%s\"/>\n", color);
    x = draw_key(out, x, y, "url(#gpumem-padding)", OUTLINE_COLOR, "padding");
    x = draw_key(out, x, y, FREE_COLOR, OUTLINE_COLOR, "free");
    x = draw_key(out, x, y, USED_COLOR, OUTLINE_COLOR, "used, no buffer");
    draw_key(out, x, y, "none", DEDICATED_COLOR, "dedicated page");
}

static void draw_header(gpumem_json *out, const pic_dump *dump, double height)
{
    gpumem_json_append(out,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"",
                       WIDTH);
    append_decimal(out, height);
    gpumem_json_append(out, "\" viewBox=\"0 0 %d ", WIDTH);
    append_decimal(out, height);
    gpumem_json_append(out, "\" font-family=\"sans-serif\" font-size=\"12\">\n<title>gpumem: ");
    append_name(out, dump->name, "(no name)");
    gpumem_json_append(out,
                       "</title>\n<defs><pattern id=\"gpumem-padding\" width=\"6\" height=\"6\" "
                       "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                       "<rect width=\"6\" height=\"6\" fill=\"#ffffff\" fill-opacity=\"0.35\"/>"
                       "<rect width=\"2.5\" height=\"6\" fill=\"#000000\" fill-opacity=\"0.5\"/>"
                       "</pattern></defs>\n"
                       "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    text_open(out, MARGIN, MARGIN + 14, "font-size=\"16\" font-weight=\"bold\"");
    append_name(out, dump->name, "(no name)");
    gpumem_json_append(out, " (");
    append_escaped(out, dump->backend->string, dump->backend->length);
    gpumem_json_append(out, " device %llu)</text>\n", U64(dump->device_index));
    text_open(out, MARGIN, MARGIN + 34, "fill=\"#444444\"");
    gpumem_json_append(out, "Each bar is a page, %d px for its pool's page size (a larger page "
                       "is drawn to its own scale). Hover over a span for its numbers.</text>\n",
                       GPUMEM_PICTURE_BAR_WIDTH);
    draw_legend(out, MARGIN + 48);
}

static void draw(gpumem_json *out, const pic_dump *dump)
{
    double height = HEADER_HEIGHT + MARGIN;
    for (size_t i = 0; i < dump->pool_count; i++)
        height += pool_height(&dump->pools[i]);
    draw_header(out, dump, height);
    double y = HEADER_HEIGHT;
    if (!dump->pool_count) {
        text_open(out, MARGIN, y + 20, "fill=\"#666666\"");
        gpumem_json_append(out, "no pools</text>\n");
    }
    for (size_t i = 0; i < dump->pool_count; i++) {
        draw_pool(out, &dump->pools[i], y);
        y += pool_height(&dump->pools[i]);
    }
    gpumem_json_append(out, "</svg>\n");
}

gpumem_result gpumem_picture_svg(const char *dump_json, gpumem_json *svg)
{
    gpumem_json_document document;
    char why[384];
    gpumem_json_read_status status = gpumem_json_read(dump_json, &document, why, sizeof why);
    if (status == GPUMEM_JSON_READ_NO_MEMORY)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "%s", why);
    if (status != GPUMEM_JSON_READ_OK)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "the dump is not JSON: %s", why);
    pic_dump dump = {0};
    gpumem_result r = read_dump(document.root, &dump);
    if (r == GPUMEM_OK)
        draw(svg, &dump);
    if (r == GPUMEM_OK && svg->failed)
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for the picture");
    dump_free(&dump);
    gpumem_json_document_free(&document);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * The public function
 * ------------------------------------------------------------------------------------------- */

static gpumem_result dump_svg(const char *dump_json, char *svg, uint64_t capacity,
                              uint64_t *length)
{
    if (!dump_json)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "dump_json is NULL");
    gpumem_result r = gpumem_json_check_out("svg", svg, capacity, length);
    if (r != GPUMEM_OK)
        return r;
    gpumem_json text = {0};
    r = gpumem_picture_svg(dump_json, &text);
    if (r != GPUMEM_OK) {
        gpumem_json_free(&text);
        return r;
    }
    return gpumem_json_hand_out(&text, svg, capacity, length, "picture");
}

gpumem_result gpumem_dump_svg(const char *dump_json, char *svg, uint64_t capacity,
                              uint64_t *length)
{
    GPUMEM_LOGGED_PLAIN_CALL(dump_svg(dump_json, svg, capacity, length),
                             "dump_json %p, svg %p, capacity %llu" GPUMEM_LOG_OUTPUTS "length %llu",
                             (const void *)dump_json, (void *)svg, (unsigned long long)(capacity),
                             GPUMEM_LOG_OUT(length));
}
