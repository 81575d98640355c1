/* `clnet plugins`; see plugins_cmd.c. */
#ifndef CLNET_CLI_PLUGINS_H
#define CLNET_CLI_PLUGINS_H

/* Lists the plugins found and those refused; returns the exit status. */
int cli_plugins(void);

#endif
