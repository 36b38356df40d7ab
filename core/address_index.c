#include "address_index.h"

#include <stddef.h>

#include "hot.h"

static void update(gpumem_address_node *node)
{
    int32_t low = gpumem_address_height(node->child[0]);
    int32_t high = gpumem_address_height(node->child[1]);
    node->height = (low > high ? low : high) + 1;
}

/* Turns the subtree so that its child on `side` (0: low, 1: high) becomes its root. */
static gpumem_address_node *rotate(gpumem_address_node *node, int side)
{
    gpumem_address_node *up = node->child[side];
    node->child[side] = up->child[!side];
    up->child[!side] = node;
    update(node);
    update(up);
    return up;
}

/* Restores the AVL balance of a subtree whose children are balanced and differ in height by
 * at most 2; returns its new root. */
static gpumem_address_node *balance(gpumem_address_node *node)
{
    update(node);
    int32_t lean = gpumem_address_height(node->child[1]) - gpumem_address_height(node->child[0]);
    if (lean < -1 || lean > 1) {
        int side = lean > 0;
        gpumem_address_node *child = node->child[side];
        /* A child leaning the other way is turned first (the double rotation). */
        if (gpumem_address_height(child->child[!side]) > gpumem_address_height(child->child[side]))
            node->child[side] = rotate(child, !side);
        return rotate(node, side);
    }
    return node;
}

/* An AVL tree of 2^64 nodes is less than 92 high. */
#define MAX_DEPTH 96

/* Rebalances the subtrees at the links of path[0 .. depth), lowest first, and stops at the
 * first whose height did not change: nothing above it changed either. */
static void rebalance_path(gpumem_address_node **path[], int depth)
{
    while (depth-- > 0) {
        gpumem_address_node **link = path[depth];
        int32_t before = (*link)->height;
        *link = balance(*link);
        if ((*link)->height == before)
            return;
    }
}

/* Insert and remove are out of line: only indexed pools reach them (gpumem_buffer_find), and
 * the buffer calls that inline their tests (GPUMEM_FLATTEN) need not carry the tree's code. */
GPUMEM_OUT_OF_LINE void gpumem_address_insert(gpumem_address_node **root,
                                              gpumem_address_node *node)
{
    gpumem_address_node **path[MAX_DEPTH];
    int depth = 0;
    gpumem_address_node **link = root;
    while (*link) {
        path[depth++] = link;
        link = &(*link)->child[node->start > (*link)->start];
    }
    node->child[0] = node->child[1] = NULL;
    node->height = 1;
    *link = node;
    rebalance_path(path, depth);
}

GPUMEM_OUT_OF_LINE void gpumem_address_remove(gpumem_address_node **root,
                                              gpumem_address_node *node)
{
    gpumem_address_node **path[MAX_DEPTH];
    int depth = 0;
    gpumem_address_node **link = root;
    while (*link && *link != node) {
        path[depth++] = link;
        link = &(*link)->child[node->start > (*link)->start];
    }
    if (!*link)
        return; /* not in the tree */
    if (!node->child[0] || !node->child[1]) {
        *link = node->child[node->child[0] == NULL];
    } else {
        /* Two children: the lowest node above takes the removed node's place. */
        path[depth++] = link;
        gpumem_address_node **lowest = &node->child[1];
        int first = depth;
        while ((*lowest)->child[0]) {
            path[depth++] = lowest;
            lowest = &(*lowest)->child[0];
        }
        gpumem_address_node *successor = *lowest;
        *lowest = successor->child[1];
        successor->child[0] = node->child[0];
        successor->child[1] = node->child[1];
        successor->height = node->height;
        *link = successor;
        /* The link below the removed node's place now belongs to the successor. */
        if (depth > first)
            path[first] = &successor->child[1];
    }
    node->child[0] = node->child[1] = NULL;
    rebalance_path(path, depth);
}

gpumem_address_node *gpumem_address_find(gpumem_address_node *root, uint64_t address)
{
    gpumem_address_node *below = NULL; /* the highest start at or below address so far */
    while (root) {
        if (root->start <= address) {
            below = root;
            root = root->child[1];
        } else {
            root = root->child[0];
        }
    }
    return below && address - below->start < below->size ? below : NULL;
}
