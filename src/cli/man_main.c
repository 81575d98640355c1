/* clnet-man: writes the man page clnet(1) to stdout at build time, from
 * the option and command tables --help prints (src/cli/options.c), so
 * the two never disagree. Not installed. */
#include <stdio.h>

#include "options.h"

int main(void)
{
    cli_man_page(stdout);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
