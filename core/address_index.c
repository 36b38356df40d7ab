#include "address_index.h"

#include <stddef.h>

#include "hot.h"

static void update(gpumem_address_node *node)
{
    int32_t low = gpumem_address_height(node->child[0]);
    int32_t high = gpumem_address_height(node->child[1]);
    node->height = (low > high ? low : high) + 1;
}

/* Turns the subtree so that its child on `side` (0: low, 1: high) becomes its root, which takes
 * the old root's parent; the caller points the parent's link at it. */
static gpumem_address_node *rotate(gpumem_address_node *node, int side)
{
    gpumem_address_node *up = node->child[side];
    gpumem_address_node *moved = up->child[!side];
    node->child[side] = moved;
    if (moved)
        moved->parent = node;
    up->child[!side] = node;
    up->parent = node->parent;
    node->parent = up;
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

/* The link that points at node: its parent's child, or the root. */
static gpumem_address_node **link_of(gpumem_address_node **root, gpumem_address_node *node)
{
    gpumem_address_node *parent = node->parent;
    return parent ? &parent->child[parent->child[1] == node] : root;
}

/* Rebalances the subtrees from `node` (whose children are balanced) up towards the root, and
 * stops at the first whose height did not change: nothing above it changed either. */
static void rebalance_up(gpumem_address_node **root, gpumem_address_node *node)
{
    while (node) {
        gpumem_address_node **link = link_of(root, node);
        int32_t before = node->height;
        node = balance(node);
        *link = node;
        if (node->height == before)
            return;
        node = node->parent;
    }
}

/* Hangs node, a new leaf, at `link`, a free child link of parent (NULL: the root), and
 * rebalances above it. */
static void attach(gpumem_address_node **root, gpumem_address_node *parent,
                   gpumem_address_node **link, gpumem_address_node *node)
{
    node->child[0] = node->child[1] = NULL;
    node->parent = parent;
    node->height = 1;
    *link = node;
    rebalance_up(root, parent);
}

/* Insert and remove are out of line: only indexed pools reach them (gpumem_buffer_find), and
 * the buffer calls that inline their tests (GPUMEM_FLATTEN) need not carry the tree's code. */
GPUMEM_OUT_OF_LINE void gpumem_address_insert(gpumem_address_node **root,
                                              gpumem_address_node *node)
{
    gpumem_address_node *parent = NULL;
    gpumem_address_node **link = root;
    while (*link) {
        parent = *link;
        link = &parent->child[node->start > parent->start];
    }
    attach(root, parent, link, node);
}

/* In order, node follows `before`: it becomes before's high child, or, where before has one,
 * the low child of the lowest node of that subtree (a walk as long as that subtree is high:
 * short for most nodes of a balanced tree, which are near its leaves). */
GPUMEM_OUT_OF_LINE void gpumem_address_insert_after(gpumem_address_node **root,
                                                    gpumem_address_node *before,
                                                    gpumem_address_node *node)
{
    gpumem_address_node *parent = before;
    gpumem_address_node **link = &before->child[1];
    while (*link) {
        parent = *link;
        link = &parent->child[0];
    }
    attach(root, parent, link, node);
}

GPUMEM_OUT_OF_LINE void gpumem_address_remove(gpumem_address_node **root,
                                              gpumem_address_node *node)
{
    gpumem_address_node **link = link_of(root, node);
    gpumem_address_node *parent = node->parent;
    gpumem_address_node *lowest_changed; /* the lowest node whose subtree lost a node */
    if (!node->child[0] || !node->child[1]) {
        gpumem_address_node *child = node->child[node->child[0] == NULL];
        *link = child;
        if (child)
            child->parent = parent;
        lowest_changed = parent;
    } else {
        /* Two children: the lowest node above takes the removed node's place, and its height,
         * so that the climb compares the place's height before and after. */
        gpumem_address_node *successor = node->child[1];
        while (successor->child[0])
            successor = successor->child[0];
        if (successor == node->child[1]) {
            lowest_changed = successor;
        } else {
            gpumem_address_node *above = successor->parent;
            above->child[0] = successor->child[1];
            if (successor->child[1])
                successor->child[1]->parent = above;
            successor->child[1] = node->child[1];
            node->child[1]->parent = successor;
            lowest_changed = above;
        }
        successor->child[0] = node->child[0];
        node->child[0]->parent = successor;
        successor->parent = parent;
        successor->height = node->height;
        *link = successor;
    }
    node->child[0] = node->child[1] = node->parent = NULL;
    rebalance_up(root, lowest_changed);
}

/* Whether the lookup's step is written in x86-64 assembly (64-bit pointers; a build may set 0:
 * the unit tests build the portable step that way too). */
#ifndef GPUMEM_ADDRESS_FIND_ASM
#if defined(__x86_64__) && defined(__GNUC__) && defined(__LP64__)
#define GPUMEM_ADDRESS_FIND_ASM 1
#else
#define GPUMEM_ADDRESS_FIND_ASM 0
#endif
#endif

/* The descent chooses its child and keeps `below` without a branch: which way a lookup turns
 * at each level is as good as random, and a branch mispredicted at half the levels costs more
 * than the loads. gcc makes a branch of a `?:` choice, even one marked as unpredictable, so on
 * x86-64 the step is two conditional moves; elsewhere it is masks. On a 2-core VM, lookups of
 * random buffers among 256 took 45.6 ns with the branch, 32.5 with masks and 25.1 with the
 * moves, whose chain per level is the load, the compare and one move ("Fifty-fourth session",
 * docs/performance.md). */
gpumem_address_node *gpumem_address_find(gpumem_address_node *root, uint64_t address)
{
    gpumem_address_node *below = NULL; /* the highest start at or below address so far */
    while (root) {
#if GPUMEM_ADDRESS_FIND_ASM
        gpumem_address_node *next = root->child[0];
        /* Where address >= start: the high child, and this node as the one below. Each
         * instruction in both of gcc's dialects ({AT&T|Intel}), so -masm=intel builds it too. */
        __asm__("cmp{q} {%[start], %[address]|%[address], %[start]}\n\t"
                "cmovae{q} {%[upper], %[next]|%[next], %[upper]}\n\t"
                "cmovae{q} {%[node], %[below]|%[below], %[node]}"
                : [next] "+r"(next), [below] "+r"(below)
                : [start] "m"(root->start), [address] "r"(address), [upper] "m"(root->child[1]),
                  [node] "r"(root)
                : "cc");
        root = next;
#else
        uintptr_t lower = (uintptr_t)root->child[0], upper = (uintptr_t)root->child[1];
        uintptr_t higher = -(uintptr_t)(root->start <= address); /* all ones or zero */
        below = (gpumem_address_node *)(((uintptr_t)root & higher) | ((uintptr_t)below & ~higher));
        root = (gpumem_address_node *)((upper & higher) | (lower & ~higher));
#endif
    }
    return below && address - below->start < below->size ? below : NULL;
}
