/* An intrusive, circular, doubly linked list: objects embed a node and are never copied. */
#ifndef GPUMEM_CORE_LIST_H
#define GPUMEM_CORE_LIST_H

#include <stddef.h>

typedef struct gpumem_list {
    struct gpumem_list *prev, *next;
} gpumem_list;

static inline void gpumem_list_init(gpumem_list *head)
{
    head->prev = head->next = head;
}

static inline int gpumem_list_empty(const gpumem_list *head)
{
    return head->next == head;
}

static inline void gpumem_list_push(gpumem_list *head, gpumem_list *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void gpumem_list_remove(gpumem_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

#define GPUMEM_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Visits every node; the body may remove the current node. */
#define GPUMEM_LIST_FOR_EACH_SAFE(node, next_node, head)                              \
    for (gpumem_list *node = (head)->next, *next_node = node->next; node != (head);   \
         node = next_node, next_node = node->next)

#endif
