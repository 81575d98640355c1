/* `clnet bench`; see bench_cmd.c. */
#ifndef CLNET_CLI_BENCH_H
#define CLNET_CLI_BENCH_H

#include "clnet/clnet.h"
#include "options.h"

typedef clnet_net *(*cli_open_net_fn)(const cli_options *o, int32_t batch,
                                      clnet_registry **reg, clnet_error *e);
typedef int (*cli_fail_fn)(const clnet_error *e);

int cli_bench(const cli_options *o, cli_open_net_fn open_net,
              cli_fail_fn fail);

#endif
