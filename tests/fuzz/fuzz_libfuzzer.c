/* gpumem-libfuzzer: the fuzzer's decoder and shadow model as a libFuzzer target. Each input is a
 * fresh run (at most 4096 ops; buffers of at most 1 MiB and bursts of at most 64, so that an
 * input takes milliseconds) that closes everything it opened, so LeakSanitizer sees no
 * leftovers between inputs. A difference from the model aborts, and libFuzzer keeps the input;
 * the plain program replays it: `gpumem-fuzz --small --replay crash-<hash>` (with --trace to
 * see every call).
 *
 * Built only with clang (meson checks that -fsanitize=fuzzer links). To run it, with the library
 * instrumented for coverage as well:
 *
 *   CC=clang meson setup build-fuzz-clang -Db_sanitize=address,undefined -Db_lundef=false \
 *       -Dc_args=-fsanitize=fuzzer-no-link
 *   meson compile -C build-fuzz-clang tests/fuzz/gpumem-libfuzzer
 *   cp -r tests/fuzz/corpus fuzz-corpus     (libFuzzer adds what it finds there)
 *   GPUMEM_BACKEND=host LD_PRELOAD=$(clang -print-file-name=libclang_rt.asan-x86_64.so) \
 *       build-fuzz-clang/tests/fuzz/gpumem-libfuzzer fuzz-corpus \
 *       -max_len=4096 -max_total_time=3600 -print_final_stats=1
 *
 * (without -Dc_args=..., only the decoder is instrumented: coverage then guides less). A clang
 * build with AddressSanitizer links its shared runtime (meson.build), which must be loaded
 * first, and libFuzzer's libstdc++ comes ahead of it in the program: hence LD_PRELOAD. The
 * backend comes from GPUMEM_BACKEND, host when unset; Vulkan works too, but opening a Vulkan
 * device for every input is slow. New seed inputs come from the plain program:
 * `gpumem-fuzz --small --seed N --ops 300 --save-input tests/fuzz/corpus/seed-N`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_ops.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("GPUMEM_BACKEND", "host", 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_summary summary; /* 4 KiB of failure text: not on the stack */
    fuzz_input input;
    fuzz_input_from_bytes(&input, data, size);
    fuzz_options options = {.max_ops = 4096, .quiet = 1, .small = 1};
    if (fuzz_run(&input, &options, &summary)) {
        fprintf(stderr, "gpumem-libfuzzer: FAILED at op %" PRIu64 ": %s\n", summary.failed_op,
                summary.failure);
        abort();
    }
    return 0;
}
