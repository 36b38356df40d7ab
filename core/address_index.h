/* The buffers of a pool by address: an AVL tree of [start, start + size) ranges that do not
 * overlap, whose nodes live inside the buffers (no allocation). Insert, remove and find are
 * O(log n). Not thread-safe: the pool's lock guards a pool's tree. */
#ifndef GPUMEM_CORE_ADDRESS_INDEX_H
#define GPUMEM_CORE_ADDRESS_INDEX_H

#include <stdint.h>

typedef struct gpumem_address_node {
    struct gpumem_address_node *child[2]; /* lower and higher addresses */
    uint64_t start;
    uint64_t size;
    int32_t height; /* of the subtree: 1 for a leaf */
} gpumem_address_node;

/* Adds a node whose range overlaps no other node's (node->start and node->size set). */
void gpumem_address_insert(gpumem_address_node **root, gpumem_address_node *node);

/* Takes out a node of the tree. */
void gpumem_address_remove(gpumem_address_node **root, gpumem_address_node *node);

/* The node whose range holds `address`, or NULL. */
gpumem_address_node *gpumem_address_find(gpumem_address_node *root, uint64_t address);

/* A subtree's height (0 when empty): for balancing, and for tests of the balance. */
static inline int32_t gpumem_address_height(const gpumem_address_node *node)
{
    return node ? node->height : 0;
}

#endif
