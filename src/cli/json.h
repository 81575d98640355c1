/* The one way the clnet tool writes a JSON string: quoted and escaped. */
#ifndef CLNET_CLI_JSON_H
#define CLNET_CLI_JSON_H

#include <stdio.h>

/* Writes s as a JSON string with its quotes: '"' and '\' escaped, control
 * characters as \n, \t ... or \u00XX, and bytes that are not UTF-8 (a
 * file name may hold any) as U+FFFD, so the output is always valid JSON
 * in UTF-8. NULL is written as null. */
void cli_json_string(FILE *f, const char *s);

/* "KEY": "VALUE" followed by ", " when comma is set. */
void cli_json_field(FILE *f, const char *key, const char *value, int comma);

#endif
