/* Test tool: print a run directory's durable state, one task a line:
 *   ID STATE ATTEMPTS
 * or with --files the recorded checksums of produced files: LFN SHA256 TASK
 * through wfmpi_ckpt_load, exactly what a resume would start from. Exit 2
 * with the loader's message when the run dir cannot be read. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "wfmpi/ckpt.h"

int main(int argc, char **argv)
{
    bool files = argc == 3 && strcmp(argv[1], "--files") == 0;
    if (argc != 2 + files) {
        fprintf(stderr, "usage: ckpt_dump [--files] RUN_DIR\n");
        return 2;
    }
    struct wfmpi_error err = {0};
    struct wfmpi_ckpt_state *st = wfmpi_ckpt_load(argv[1 + files], &err);
    if (!st) {
        fprintf(stderr, "ckpt_dump: %s\n", err.text);
        return 2;
    }
    for (uint32_t i = 0; files && i < st->n_files; i++)
        printf("%s %s %s\n", st->files[i].lfn, st->files[i].sha256, st->ids[st->files[i].task]);
    for (uint32_t i = 0; !files && i < st->n_tasks; i++)
        printf("%s %s %u\n", st->ids[i],
               wfmpi_task_state_name((enum wfmpi_task_state)st->tasks[i].state),
               st->tasks[i].attempts);
    wfmpi_ckpt_state_free(st);
    return 0;
}
