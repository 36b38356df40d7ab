/* The buffers of a pool by address: an AVL tree of [start, start + size) ranges that do not
 * overlap, whose nodes live inside the buffers (no allocation). Insert and find are O(log n)
 * from the root; an insert beside a known neighbour and a remove start at a node and climb
 * through parent links only as far as the balance changes (a remove of a node with two
 * children first walks down to its successor), with no search from the root. Not thread-safe:
 * the pool's lock guards a pool's tree. */
#ifndef GPUMEM_CORE_ADDRESS_INDEX_H
#define GPUMEM_CORE_ADDRESS_INDEX_H

#include <stdint.h>

typedef struct gpumem_address_node {
    struct gpumem_address_node *child[2]; /* lower and higher addresses */
    uint64_t start;
    uint64_t size;
    /* NULL at the root. After the fields a lookup reads, which stay in the node's first 32
     * bytes. */
    struct gpumem_address_node *parent;
    int32_t height; /* of the subtree: 1 for a leaf */
} gpumem_address_node;

/* Adds a node whose range overlaps no other node's (node->start and node->size set). */
void gpumem_address_insert(gpumem_address_node **root, gpumem_address_node *node);

/* As gpumem_address_insert, where `before` is the node of the tree with the highest start
 * below node->start: the new node goes in beside it, without a search from the root. */
void gpumem_address_insert_after(gpumem_address_node **root, gpumem_address_node *before,
                                 gpumem_address_node *node);

/* Takes out a node of the tree (only one that is in it: the node's own links say where). */
void gpumem_address_remove(gpumem_address_node **root, gpumem_address_node *node);

/* The node whose range holds `address`, or NULL. */
gpumem_address_node *gpumem_address_find(gpumem_address_node *root, uint64_t address);

/* A subtree's height (0 when empty): for balancing, and for tests of the balance. */
static inline int32_t gpumem_address_height(const gpumem_address_node *node)
{
    return node ? node->height : 0;
}

#endif
