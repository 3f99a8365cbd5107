/* staged-writes.h — a module's files written as one write batch
 * (agent/fileio.h): the contents are staged, synced with one syncfs(), then
 * put in place together, and each file that landed is recorded as a change
 * of the module (status, journal), each that did not as its error.  Used by
 * write_files and templates, where a boot writes many small files and one
 * fsync per file would be most of the cost (docs/performance.md).
 *
 * A path staged twice is committed in between, so the second write sees the
 * first (write_files' append).  Callers that act on what landed (templates'
 * on_change) give each file a tag and ask staged_writes_landed() after the
 * commit. */
#pragma once

#include <stdbool.h>

#include "fileio.h"
#include "module.h"

typedef struct staged_writes {
        write_batch *batch;
        json_t *staged; /* [{path, action, detail, tag}] of the uncommitted files */
        json_t *landed; /* tags of the files put in place */
        int failed;
} staged_writes;

int staged_writes_init(staged_writes *w);
void staged_writes_done(staged_writes *w);
static inline void staged_writes_donep(staged_writes *w) {
        staged_writes_done(w);
}
#define _cleanup_staged_writes_ _cleanup_(staged_writes_donep)

/* Stages data for path (an absolute path as the config names it; written
 * under --root), creating its directory.  action/detail are what the change
 * record will say.  Errors about this file are recorded with ctx_error() and
 * returned; the batch stays usable. */
int staged_writes_add(kiln_ctx *ctx, staged_writes *w, const char *path, const void *data, size_t len,
                      const write_opts *opts, long tag, const char *action, const char *detail);
/* Puts every staged file in place and records each; returns how many failed
 * so far (the batch can take more files afterwards). */
int staged_writes_commit(kiln_ctx *ctx, staged_writes *w);
bool staged_writes_landed(const staged_writes *w, long tag);
/* Commits when path is staged, so reading it sees what this run wrote. */
void staged_writes_flush_path(kiln_ctx *ctx, staged_writes *w, const char *path);
