/* Loading a vendor runtime at run time: dlopen, then each symbol of a list into a table, so a
 * backend builds without the runtime and its absence is a reason, not a link error. */
#ifndef GPUMEM_GPURT_LOADER_H
#define GPUMEM_GPURT_LOADER_H

#include <pthread.h>
#include <stddef.h>

/* Any function; cast to its real type at the call (a symbol list knows the types). */
typedef void (*gpurt_function)(void);

typedef struct gpurt_symbol {
    const char *name;     /* the API's name ("cuMemAlloc") */
    const char *exported; /* the name the library exports for that ABI ("cuMemAlloc_v2") */
    int version;          /* the runtime version that introduced this ABI (CUDA: 3020) */
    int required;         /* 0: the table entry stays NULL when the library lacks it */
} gpurt_symbol;

/* Finds one symbol in an opened library, or returns NULL. NULL resolver: dlsym(exported). */
typedef gpurt_function (*gpurt_resolver)(void *library, const gpurt_symbol *symbol);

/* Opens `file` and fills functions[i] for symbols[i]. On failure writes the reason ("<file>
 * not found", "<file> lacks cuMemAlloc_v2") and returns nonzero; the library is closed. */
int gpurt_library_load(const char *file, const gpurt_symbol *symbols, size_t count,
                       gpurt_resolver resolve, gpurt_function *functions, void **library,
                       char *reason, size_t reason_size);

/* A runtime loaded once per process, and why not if it failed. */
typedef struct gpurt_once {
    pthread_once_t once;
    int failed;
    char reason[256];
} gpurt_once;

#define GPURT_ONCE_INIT {PTHREAD_ONCE_INIT, 0, ""}

/* Runs `load` the first time (it sets state->failed and state->reason), then answers as a
 * gpurt_runtime's load does: nonzero with the reason copied out. */
int gpurt_once_load(gpurt_once *state, void (*load)(void), char *reason, size_t reason_size);

/* dlsym as a function pointer (POSIX guarantees the conversion). */
gpurt_function gpurt_dlsym(void *library, const char *name);

/* A backend lists its symbols as an X-macro, LIST(X), of entries
 *     X(id, "api name", version, required, result type, (parameters))
 * where id is the exported name. These make, from one list, in one translation unit:
 * - GPURT_DECLARE_SYMBOLS(LIST, functions): GPURT_SYMBOL_<id> indices, GPURT_SYMBOL_COUNT, a
 *   type gpurt_pfn_<id> per symbol (its exact prototype), and the table `functions`;
 * - GPURT_SYMBOLS(LIST): the initializer of the gpurt_symbol array for gpurt_library_load;
 * - GPURT_CALL(functions, id): the loaded function, with its type;
 * - GPURT_HAS(functions, id): whether the library had it (optional symbols). */
#define GPURT_SYMBOL_INDEX_(id, name, version, required, result, parameters) GPURT_SYMBOL_##id,
#define GPURT_SYMBOL_TYPE_(id, name, version, required, result, parameters)     \
    typedef result (*gpurt_pfn_##id) parameters;
#define GPURT_SYMBOL_ENTRY_(id, name, version, required, result, parameters)    \
    {name, #id, version, required},

#define GPURT_DECLARE_SYMBOLS(LIST, functions)                                  \
    enum { LIST(GPURT_SYMBOL_INDEX_) GPURT_SYMBOL_COUNT };                      \
    LIST(GPURT_SYMBOL_TYPE_)                                                    \
    extern gpurt_function functions[GPURT_SYMBOL_COUNT]

#define GPURT_SYMBOLS(LIST) {LIST(GPURT_SYMBOL_ENTRY_)}

#define GPURT_CALL(functions, id) ((gpurt_pfn_##id)(functions)[GPURT_SYMBOL_##id])
#define GPURT_HAS(functions, id) ((functions)[GPURT_SYMBOL_##id] != NULL)

#endif
