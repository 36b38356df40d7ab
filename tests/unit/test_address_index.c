/* The address index (core/address_index.c): random inserts (from the root, and beside the node
 * below) and removes against a model, with the AVL invariants and the parent links checked
 * after each step, and lookups of addresses in, at the edges of and between the ranges. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "address_index.h"

#define NODES 2000

/* Checks order, heights, balance and parent links of a subtree whose keys lie in [low, high]
 * and whose root's parent is `parent`; returns its node count. */
static int check_subtree(const gpumem_address_node *node, const gpumem_address_node *parent,
                         uint64_t low, uint64_t high)
{
    if (!node)
        return 0;
    cr_assert_eq(node->parent, parent, "node 0x%llx has a wrong parent link",
                 (unsigned long long)node->start);
    cr_assert(node->start >= low && node->start <= high, "node 0x%llx out of order",
              (unsigned long long)node->start);
    int32_t left = gpumem_address_height(node->child[0]);
    int32_t right = gpumem_address_height(node->child[1]);
    cr_assert_eq(node->height, (left > right ? left : right) + 1, "wrong height");
    cr_assert(left - right <= 1 && right - left <= 1, "out of balance: %d against %d", left,
              right);
    int count = 1;
    if (node->child[0])
        count += check_subtree(node->child[0], node, low, node->start - 1);
    if (node->child[1])
        count += check_subtree(node->child[1], node, node->start + 1, high);
    return count;
}

static gpumem_address_node *model_find(gpumem_address_node *nodes, const int *in, uint64_t a)
{
    for (int i = 0; i < NODES; i++)
        if (in[i] && a >= nodes[i].start && a - nodes[i].start < nodes[i].size)
            return &nodes[i];
    return NULL;
}

/* `steps` random inserts and removes of NODES nodes whose ranges never overlap (node i owns
 * [4096 + i * 1000, 4096 + i * 1000 + 1000) and takes a part), checked against a model: the
 * tree's invariants and lookups at and around random nodes' edges every few steps. `beside`: a
 * node goes in beside the node just below it (gpumem_address_insert_after, as pools do through
 * their suballocator's address order) where there is one, so that it lands anywhere, as a high
 * child or down the low side of that neighbour's high subtree; and half the steps pick a node
 * near the last one, so that neighbours come and go together. Returns how many went in beside
 * a neighbour. */
static int churn_against_model(unsigned seed, int steps, int beside)
{
    static gpumem_address_node nodes[NODES];
    static int in[NODES];
    gpumem_address_node *root = NULL;
    srand(seed);
    for (int i = 0; i < NODES; i++) {
        nodes[i] = (gpumem_address_node){
            .start = 4096 + (uint64_t)i * 1000 + (uint64_t)(rand() % 10),
            .size = 1 + (uint64_t)(rand() % 990)};
        in[i] = 0;
    }
    int live = 0, went_beside = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        int i = beside && step % 2 == 0 ? (last + NODES + rand() % 9 - 4) % NODES
                                         : rand() % NODES;
        last = i;
        if (in[i]) {
            gpumem_address_remove(&root, &nodes[i]);
            in[i] = 0;
            live--;
        } else {
            int below = i - 1;
            while (beside && below >= 0 && !in[below])
                below--;
            if (beside && below >= 0) {
                gpumem_address_insert_after(&root, &nodes[below], &nodes[i]);
                went_beside++;
            } else {
                gpumem_address_insert(&root, &nodes[i]);
            }
            in[i] = 1;
            live++;
        }
        if (step % 97 == 0 || step > steps - 100) {
            cr_assert_eq(check_subtree(root, NULL, 0, UINT64_MAX), live,
                         "nodes lost or duplicated");
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
    /* Everything out again, the root first each time: the tree empties cleanly. */
    while (root) {
        gpumem_address_node *top = root;
        gpumem_address_remove(&root, top);
        cr_assert(top->parent == NULL && !top->child[0] && !top->child[1],
                  "a removed node keeps its links");
        cr_assert_eq(check_subtree(root, NULL, 0, UINT64_MAX), --live, "nodes lost");
    }
    return went_beside;
}

Test(address_index, random_inserts_and_removes_against_a_model)
{
    churn_against_model(7, 20000, 0);
}

Test(address_index, inserts_beside_the_node_below_against_a_model)
{
    int beside = churn_against_model(11, 40000, 1);
    cr_assert_gt(beside, 10000, "only %d inserts went beside a neighbour", beside);
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
    cr_assert_eq(check_subtree(root, NULL, 0, UINT64_MAX), COUNT);
    for (int i = 0; i < COUNT; i += 2)
        gpumem_address_remove(&root, &nodes[i]);
    cr_assert_eq(check_subtree(root, NULL, 0, UINT64_MAX), COUNT / 2);
    cr_assert_null(gpumem_address_find(root, 0));
    cr_assert_eq(gpumem_address_find(root, 256 + 255), &nodes[1]);
    /* Adjacent ranges: the last byte of one and the first of the next. */
    gpumem_address_insert(&root, &nodes[2]);
    cr_assert_eq(gpumem_address_find(root, 511), &nodes[1]);
    cr_assert_eq(gpumem_address_find(root, 512), &nodes[2]);
    free(nodes);
}
