/* `clnet check`: every implementation on the chosen devices against the
 * native CPU, as a pass/fail table and optionally JSON. */
#ifndef CLNET_CLI_CHECK_CMD_H
#define CLNET_CLI_CHECK_CMD_H

#include "options.h"

int cli_check(const cli_options *o);

#endif
