/* libFuzzer harness for the workflow loader: any bytes must either load or
 * fail with an error, never crash, hang, leak or trip a sanitizer. */
#include <stddef.h>
#include <stdint.h>

#include "wfmpi/wf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Unknown-key warnings would flood the fuzzer's output and slow it: the
     * warning is still formatted, only not printed. */
    wfmpi_log_set_level(WFMPI_LOG_ERROR);
    /* No catalogs from the current directory: the input alone decides. Odd
     * sizes load strict, so both ways of meeting an unknown key are fuzzed. */
    struct wfmpi_wf_options opt = {.no_default_catalogs = 1, .strict = (int)(size & 1)};
    struct wfmpi_error err;
    struct wfmpi_wf *wf = wfmpi_wf_load_buffer("fuzz.yml", (const char *)data, size, &opt, &err);
    if (wf) {
        /* Touch the view so bad ranges would show up under ASan. */
        const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
        for (uint32_t i = 0; i < v->n_jobs; i++) {
            const struct wfmpi_wf_job *j = &v->jobs[i];
            for (uint32_t k = 0; k < j->args.count; k++)
                (void)wfmpi_wf_str(wf, v->args[j->args.first + k]);
            for (uint32_t k = 0; k < j->uses.count; k++)
                (void)wfmpi_wf_str(wf, v->uses[j->uses.first + k].lfn);
        }
        for (uint32_t i = 0; i < v->n_deps; i++)
            if (v->deps[i].parent >= v->n_jobs || v->deps[i].child >= v->n_jobs)
                __builtin_trap();
        wfmpi_wf_destroy(wf);
    }
    return 0;
}
