/* The address index (core/address_index.c): random inserts and removes against a model, with
 * the AVL invariants checked after each step, and lookups of addresses in, at the edges of and
 * between the ranges. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "address_index.h"

#define NODES 2000

/* Checks order, heights and balance of a subtree whose keys lie in [low, high]; returns its
 * node count. */
static int check_subtree(const gpumem_address_node *node, uint64_t low, uint64_t high)
{
    if (!node)
        return 0;
    cr_assert(node->start >= low && node->start <= high, "node 0x%llx out of order",
              (unsigned long long)node->start);
    int32_t left = gpumem_address_height(node->child[0]);
    int32_t right = gpumem_address_height(node->child[1]);
    cr_assert_eq(node->height, (left > right ? left : right) + 1, "wrong height");
    cr_assert(left - right <= 1 && right - left <= 1, "out of balance: %d against %d", left,
              right);
    int count = 1;
    if (node->child[0])
        count += check_subtree(node->child[0], low, node->start - 1);
    if (node->child[1])
        count += check_subtree(node->child[1], node->start + 1, high);
    return count;
}

static gpumem_address_node *model_find(gpumem_address_node *nodes, const int *in, uint64_t a)
{
    for (int i = 0; i < NODES; i++)
        if (in[i] && a >= nodes[i].start && a - nodes[i].start < nodes[i].size)
            return &nodes[i];
    return NULL;
}

Test(address_index, random_inserts_and_removes_against_a_model)
{
    static gpumem_address_node nodes[NODES];
    static int in[NODES];
    gpumem_address_node *root = NULL;
    srand(7);
    /* Ranges that never overlap: node i owns [i * 1000, i * 1000 + 1000) and takes a part. */
    for (int i = 0; i < NODES; i++) {
        nodes[i].start = 4096 + (uint64_t)i * 1000 + (uint64_t)(rand() % 10);
        nodes[i].size = 1 + (uint64_t)(rand() % 990);
    }
    int live = 0;
    for (int step = 0; step < 20000; step++) {
        int i = rand() % NODES;
        if (in[i]) {
            gpumem_address_remove(&root, &nodes[i]);
            in[i] = 0;
            live--;
        } else {
            gpumem_address_insert(&root, &nodes[i]);
            in[i] = 1;
            live++;
        }
        if (step % 97 == 0 || step > 19900) {
            cr_assert_eq(check_subtree(root, 0, UINT64_MAX), live, "nodes lost or duplicated");
            for (int k = 0; k < 50; k++) {
                int j = rand() % NODES;
                uint64_t probes[] = {nodes[j].start - 1, nodes[j].start,
                                     nodes[j].start + nodes[j].size - 1,
                                     nodes[j].start + nodes[j].size,
                                     nodes[j].start + (uint64_t)rand() % nodes[j].size};
                for (int p = 0; p < 5; p++)
                    cr_assert_eq(gpumem_address_find(root, probes[p]),
                                 model_find(nodes, in, probes[p]), "address 0x%llx",
                                 (unsigned long long)probes[p]);
            }
        }
    }
    cr_assert_null(gpumem_address_find(root, 0));
    cr_assert_null(gpumem_address_find(root, UINT64_MAX));
}

Test(address_index, ascending_inserts_stay_balanced)
{
    enum { COUNT = 1 << 16 };
    gpumem_address_node *nodes = calloc(COUNT, sizeof *nodes);
    cr_assert_not_null(nodes);
    gpumem_address_node *root = NULL;
    for (int i = 0; i < COUNT; i++) {
        nodes[i].start = (uint64_t)i * 256;
        nodes[i].size = 256;
        gpumem_address_insert(&root, &nodes[i]);
    }
    /* An AVL tree of n nodes is at most 1.44 log2(n) high: 23 for 2^16. */
    cr_assert_leq(gpumem_address_height(root), 23, "height %d", gpumem_address_height(root));
    cr_assert_eq(check_subtree(root, 0, UINT64_MAX), COUNT);
    for (int i = 0; i < COUNT; i += 2)
        gpumem_address_remove(&root, &nodes[i]);
    cr_assert_eq(check_subtree(root, 0, UINT64_MAX), COUNT / 2);
    cr_assert_null(gpumem_address_find(root, 0));
    cr_assert_eq(gpumem_address_find(root, 256 + 255), &nodes[1]);
    /* Adjacent ranges: the last byte of one and the first of the next. */
    gpumem_address_insert(&root, &nodes[2]);
    cr_assert_eq(gpumem_address_find(root, 511), &nodes[1]);
    cr_assert_eq(gpumem_address_find(root, 512), &nodes[2]);
    free(nodes);
}
