/* A pool's shared pages by age, with their room (page_index.h). */
#include "page_index.h"

#include <string.h>

#include "alloc.h"
#include "hot.h"

/* Sets an entry's room and the maxima above its leaf, up to the root or the first that does not
 * change. */
static void set_leaf(gpumem_page_index *index, gpumem_page_index_entry *entry, uint64_t value)
{
    uint64_t *room = index->room;
    uint32_t node = index->capacity + entry->slot;
    entry->room = value;
    room[node] = value;
    for (node >>= 1; node; node >>= 1) {
        uint64_t left = room[2 * node], right = room[2 * node + 1];
        uint64_t larger = left > right ? left : right;
        if (room[node] == larger)
            return;
        room[node] = larger;
    }
}

/* Lays the entries out again in `capacity` slots, oldest first, holes taken out; the new arrays
 * are the caller's, allocated. */
static void lay_out(gpumem_page_index *index, gpumem_page_index_entry **entries, uint64_t *room,
                    uint32_t capacity)
{
    memset(entries, 0, capacity * sizeof *entries);
    memset(room, 0, 2 * (size_t)capacity * sizeof *room);
    uint32_t used = 0;
    for (uint32_t slot = 0; slot < index->used; slot++) {
        gpumem_page_index_entry *entry = index->entries[slot];
        if (!entry)
            continue;
        room[capacity + used] = entry->room;
        entries[used] = entry;
        entry->slot = used++;
    }
    for (uint32_t node = capacity - 1; node >= 1; node--)
        room[node] = room[2 * node] > room[2 * node + 1] ? room[2 * node] : room[2 * node + 1];
    gpumem_free(index->entries);
    gpumem_free(index->room);
    index->entries = entries;
    index->room = room;
    index->capacity = capacity;
    index->used = used;
}

GPUMEM_OUT_OF_LINE gpumem_result gpumem_page_index_add(gpumem_page_index *index,
                                                       gpumem_page_index_entry *entry,
                                                       uint64_t room)
{
    if (index->used == index->capacity) {
        /* Compacted in place of doubling while at most half the slots hold pages. */
        uint32_t capacity = index->capacity;
        if (capacity == 0 || index->count >= capacity / 2) {
            if (capacity > UINT32_MAX / 4)
                return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
            capacity = capacity ? 2 * capacity : 4;
        }
        gpumem_page_index_entry **entries = gpumem_alloc(capacity * sizeof *entries);
        uint64_t *rooms = gpumem_alloc(2 * (size_t)capacity * sizeof *rooms);
        if (!entries || !rooms) {
            gpumem_free(entries);
            gpumem_free(rooms);
            return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
        }
        lay_out(index, entries, rooms, capacity);
    }
    entry->slot = index->used++;
    index->entries[entry->slot] = entry;
    index->count++;
    set_leaf(index, entry, room);
    return GPUMEM_OK;
}

GPUMEM_OUT_OF_LINE void gpumem_page_index_remove(gpumem_page_index *index,
                                                 gpumem_page_index_entry *entry)
{
    set_leaf(index, entry, 0);
    index->entries[entry->slot] = NULL;
    index->count--;
}

GPUMEM_OUT_OF_LINE void gpumem_page_index_set_room(gpumem_page_index *index,
                                                   gpumem_page_index_entry *entry, uint64_t room)
{
    set_leaf(index, entry, room);
}

/* The oldest slot at or after `first` whose leaf is at least `need`, or UINT32_MAX. */
static uint32_t first_leaf(const gpumem_page_index *index, uint64_t need, uint32_t first)
{
    if (first >= index->used)
        return UINT32_MAX;
    const uint64_t *room = index->room;
    uint32_t node = index->capacity + first;
    if (room[node] >= need) /* most often the oldest page has the room */
        return first;
    /* Up and to the right until a subtree, all of it after `first`, has the room... */
    do {
        while (node & 1) /* a right child: its parent's right edge is this one's */
            node >>= 1;
        if (node == 0) /* past the root: nothing at or after `first` */
            return UINT32_MAX;
        node++;
    } while (room[node] < need);
    /* ...then down to its oldest slot that has it. */
    while (node < index->capacity) {
        node *= 2;
        node += room[node] < need;
    }
    return node - index->capacity;
}

GPUMEM_OUT_OF_LINE gpumem_page_index_entry *gpumem_page_index_find(
    const gpumem_page_index *index, uint64_t need, const gpumem_page_index_entry *after)
{
    uint32_t slot = first_leaf(index, need, after ? after->slot + 1 : 0);
    return slot == UINT32_MAX ? NULL : index->entries[slot];
}

GPUMEM_OUT_OF_LINE void gpumem_page_index_free(gpumem_page_index *index)
{
    gpumem_free(index->entries);
    gpumem_free(index->room);
    *index = (gpumem_page_index){0};
}
