/* `clnet plugins`: the plugins found, by kind, and those refused, each
 * with its reason. */
#define _POSIX_C_SOURCE 200809L
#include "plugins_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/clnet.h"
#include "options.h"

typedef clnet_plugin_info entry;

/* By kind; within a kind its definition first, then by backend and
 * implementation, then path (a plugin loaded from two folders). */
static int by_kind(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    if (c)
        return c;
    int dx = !strcmp(x->role, "kind"), dy = !strcmp(y->role, "kind");
    if (dx != dy)
        return dy - dx;
    if ((c = strcmp(x->backend, y->backend)) || (c = strcmp(x->impl, y->impl)))
        return c;
    return strcmp(x->path, y->path);
}

/* The registry's messages read "PATH: refused: WHY" (some "refused
 * plugin folder ..."): printed as "refused: PATH: WHY", the word once. */
static void print_refused(const char *m)
{
    const char *inner = strstr(m, ": refused: ");
    if (inner)
        printf("refused: %.*s: %s\n", (int)(inner - m), m,
               inner + strlen(": refused: "));
    else if (!strncmp(m, "refused", 7))
        printf("%s\n", m);
    else
        printf("refused: %s\n", m);
}

int cli_plugins(void)
{
    clnet_error e;
    clnet_registry *r = clnet_registry_open(&e);
    if (!r) {
        fprintf(stderr, "clnet: %s\n", e.msg[0] ? e.msg : "unknown error");
        return clnet_status_is_input(e.status) ? EXIT_INPUT : EXIT_RUNTIME;
    }
    int n = clnet_registry_count(r);
    entry *list = calloc(n > 0 ? (size_t)n : 1, sizeof *list);
    if (!list) {
        clnet_registry_free(r);
        fprintf(stderr, "clnet: out of memory\n");
        return EXIT_RUNTIME;
    }
    /* the kind and implementation columns as wide as their longest entry */
    int wk = 4, wi = 14;
    for (int i = 0; i < n; i++) {
        clnet_registry_info(r, i, &list[i], NULL);
        int k = (int)strlen(list[i].kind), m = (int)strlen(list[i].impl);
        wk = k > wk ? k : wk;
        wi = m > wi ? m : wi;
    }
    qsort(list, (size_t)n, sizeof *list, by_kind);
    printf("%-*s %-8s %-*s %-4s %s\n", wk, "KIND", "BACKEND", wi,
           "IMPLEMENTATION", "ABI", "PATH");
    for (int i = 0; i < n; i++) {
        const entry *p = &list[i];
        /* a kind's definition belongs to no backend */
        int def = !strcmp(p->role, "kind");
        printf("%-*s %-8s %-*s %-4u %s\n", wk, p->kind,
               def ? "(kind)" : p->backend, wi, def ? "definition" : p->impl,
               p->abi, p->path);
    }
    for (int i = 0; i < clnet_registry_refused_count(r); i++)
        print_refused(clnet_registry_refused(r, i));
    free(list);
    clnet_registry_free(r);
    return 0;
}
