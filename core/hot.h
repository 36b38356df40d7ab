/* Hot paths, and the rare branches that stay out of them.
 *
 * A buffer's create and destroy each run through half a dozen functions of core (the call's
 * boundary, the pool, its pages, the suballocator, the handle table), most of them shared with
 * other callers and written for every case: a stream or none, an image or a buffer, margins,
 * arenas. GPUMEM_FLATTEN on such an entry point has the compiler inline every call it makes,
 * recursively, so that the path is one function: no call boundaries and the registers they
 * save, and what the entry point fixes (no stream, no image) folds the other cases away.
 *
 * GPUMEM_RARE marks what such a path reaches only on a rare branch (a new page, a contended
 * lock, the first call of a thread, a failure, guard margins): never inlined, and placed with
 * the cold code, so that a flattened function holds its usual path and little else. The
 * compiler also builds what leads to a rare call for size: a call whose caller goes on to hot
 * work (the barrier before a batch of frees) or that some pools make at every create (the
 * address index, stream-ordered frees) is kept out of line with GPUMEM_OUT_OF_LINE instead,
 * which only forbids inlining.
 *
 * Together, on the cuda section's trace, a create+destroy pair went from 1,124 to 922
 * instructions (docs/performance.md, "Eleventh session").
 *
 * Internal to core. Both attributes are GCC's and Clang's.
 */
#ifndef GPUMEM_CORE_HOT_H
#define GPUMEM_CORE_HOT_H

#define GPUMEM_FLATTEN __attribute__((flatten))
#define GPUMEM_RARE __attribute__((noinline, cold))
#define GPUMEM_OUT_OF_LINE __attribute__((noinline))

#endif
