/* Declarations shared by the core's source files; not installed. */
#ifndef CLNET_INTERNAL_H
#define CLNET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clnet/clnet.h"
#include "clnet/plugin.h"

#if defined(__GNUC__)
#define CLNET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLNET_PRINTF(a, b)
#endif

/* Sets err (when not NULL) and returns s. */
clnet_status clnet_fail(clnet_error *err, clnet_status s, const char *fmt,
                        ...) CLNET_PRINTF(3, 4);
void clnet_error_clear(clnet_error *err);
/* Puts where the failure is set ("mnist.net:4:1", "config:2") before
 * err's message, and with because ("--backend") why that place, after. */
void clnet_error_locate(clnet_error *err, const char *where,
                        const char *because);

/* clnet_nearest_word is public (clnet.h). */
/* Appends "; did you mean 'X'?" to buf when a near word exists. */
void clnet_append_suggestion(char *buf, size_t len, const char *word,
                             const char *const *words);

/* One key=value of a topology line, with where it stood. */
typedef struct {
    char *key, *value;
    int line, col, value_col;
} clnet_topo_setting;

typedef struct {
    char *kind;
    int line, col;
    int nsettings;
    clnet_topo_setting *settings;
} clnet_topo_line;

/* Every non-empty line of a topology-syntax text (topology files and the
 * configuration file): a word, then key=value settings, '#' comments,
 * each with where it stood in `file`; clnet_lines_free frees them. */
int clnet_lines_parse(const char *text, const char *file,
                      clnet_topo_line **out, int *count, clnet_error *err);
void clnet_lines_free(clnet_topo_line *lines, int count);
/* A whole text file for the line parser, NUL-terminated (malloc'd): at
 * most 1 MiB, no NUL byte; `what` names it in messages ("topology
 * file"). */
char *clnet_read_text_file(const char *path, const char *what,
                           clnet_error *err);

struct clnet_topology {
    char *file;
    int nlayers;
    clnet_topo_line *layers;
    int has_train;
    clnet_topo_line train;
};

/* The definition (CLNET_ROLE_KIND plugin) of a layer kind, or NULL. */
const clnet_plugin *clnet_registry_kind(const clnet_registry *r,
                                        const char *kind);

/* The setting `key` of a line, or NULL. */
/* Area-averaging resize of h x w x c bytes to rows x cols x c: each output
 * value is the mean of the input area it covers, fractional edges
 * weighted, in two separable passes (image.c); -1 when out of memory. */
int clnet_resize_area(const uint8_t *in, int32_t h, int32_t w, int32_t c,
                      int32_t rows, int32_t cols, uint8_t *out);

/* dir/PREFIX-KIND-ubyte or the same with .gz (KIND "images-idx3" or
 * "labels-idx1") into out: 0 when it exists, else -1 with the name
 * looked for. */
int clnet_idx_find(const char *dir, const char *prefix, const char *kind,
                   char *out, size_t len);

const clnet_topo_setting *clnet_topo_find(const clnet_topo_line *l,
                                          const char *key);

/* Parses `text` as a setting of type spec into v; on failure writes what
 * was expected into msg. */
int clnet_parse_value(const clnet_setting_spec *spec, const char *text,
                      clnet_value *v, char *msg, size_t msglen);

/* FNV-1a, 64-bit, continuing from h (start with CLNET_FNV_INIT). */
#define CLNET_FNV_INIT 0xcbf29ce484222325ull
uint64_t clnet_fnv1a(uint64_t h, const void *data, size_t len);

/* Allocation helpers that zero memory and align to 64 bytes. */
void *clnet_alloc(size_t bytes);
void clnet_free(void *p);

double clnet_now(void);

/* Sets the OpenMP wait policy clnet's CPU plugins are measured with,
 * unless the user set one; call before the first plugin is loaded. */
void clnet_openmp_defaults(void);

#endif
