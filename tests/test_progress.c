/* clnet train's progress on a terminal: the built tool runs under a
 * pseudo-terminal of a set size, its output goes through a small terminal
 * emulation, and the screen it leaves holds the header, then for each
 * epoch its "Epoch N/M" line and one line of figures that keeps the step
 * count, every line but the header's narrower than the terminal (the
 * cursor never wraps). Without a terminal the output is plain lines. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/cli/progress.h"
#include "helpers.h"

#define MAX_ROWS 256
#define MAX_COLS 512
#define STEPS "8/8 - "
#define ARGS                                                                  \
    "--data . --limit-test 100 --batch 32 --epochs 2 --out m.ckpt --seed 3"

static const char *net_path(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/models/mnist.net", getenv("CLNET_SOURCE_ROOT"));
    return p;
}

static void write_data(void)
{
    test_write_mnist("train", 320, 0);
    test_write_mnist("t10k", 100, 0);
}

/* ---- a terminal: rows of text, a cursor, autowrap at the last column
 * (a character written past it goes to the next row, as xterm and tmux
 * do), \r, \n, ESC[K, ESC[...m and ESC[nA ---- */
typedef struct {
    char rows[MAX_ROWS][MAX_COLS];
    int width, r, c, nrows, bad;
} screen;

static void screen_init(screen *s, int width)
{
    memset(s, 0, sizeof *s);
    memset(s->rows, ' ', sizeof s->rows);
    s->width = width;
}

static void screen_feed(screen *s, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)b[i];
        if (ch == '\r') {
            s->c = 0;
        } else if (ch == '\n') {
            s->r++;
            s->c = 0;
        } else if (ch == '\b') {
            s->c -= s->c > 0;
        } else if (ch == 033) {
            if (i + 1 >= n || b[i + 1] != '[') {
                s->bad++;
                continue;
            }
            i += 2;
            int arg = 0;
            while (i < n && ((b[i] >= '0' && b[i] <= '9') || b[i] == ';')) {
                arg = b[i] == ';' ? 0 : arg * 10 + (b[i] - '0');
                i++;
            }
            if (i >= n) {
                s->bad++;
            } else if (b[i] == 'K' && arg == 0) {
                memset(s->rows[s->r] + s->c, ' ', MAX_COLS - (size_t)s->c);
            } else if (b[i] == 'A') {
                s->r -= arg ? arg : 1;
                s->r = s->r < 0 ? 0 : s->r;
            } else if (b[i] != 'm') {
                s->bad++;
            }
        } else if (ch >= ' ') {
            if (s->c >= s->width) {
                s->r++;
                s->c = 0;
            }
            if (s->r < MAX_ROWS)
                s->rows[s->r][s->c++] = (char)ch;
        }
        if (s->r >= MAX_ROWS)
            s->r = MAX_ROWS - 1, s->bad++;
        if (s->r + 1 > s->nrows)
            s->nrows = s->r + 1;
    }
}

/* Row i's text without its trailing blanks, in a static buffer. */
static const char *row(const screen *s, int i)
{
    static char t[MAX_COLS + 1];
    int n = MAX_COLS;
    while (n > 0 && s->rows[i][n - 1] == ' ')
        n--;
    memcpy(t, s->rows[i], (size_t)n);
    t[n] = '\0';
    return t;
}

/* The rows up to the last one that holds text. */
static int screen_lines(const screen *s)
{
    int n = s->nrows;
    while (n > 0 && !row(s, n - 1)[0])
        n--;
    return n;
}

static void screen_dump(const screen *s, char *out, size_t n)
{
    out[0] = '\0';
    for (int i = 0; i < screen_lines(s); i++) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%2d|%s|\n", i, row(s, i));
    }
}

/* ---- running the tool ---- */
static char raw[1 << 20];
static size_t nraw;

/* clnet train NET `args` on a pseudo-terminal of cols x 24 (cols 0: a
 * terminal that gives no size, with $COLUMNS set to columns_env); the
 * bytes it wrote land in raw; returns the exit status. */
static int run_tty(int cols, const char *columns_env, const char *args)
{
    struct winsize ws = {.ws_row = cols ? 24 : 0,
                         .ws_col = (unsigned short)cols};
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(test_tmpdir()))
            _exit(126);
        if (columns_env)
            setenv("COLUMNS", columns_env, 1);
        else
            unsetenv("COLUMNS");
        unsetenv("NO_COLOR");
        setenv("TERM", "xterm", 1);
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "exec '%s' train '%s' %s",
                 getenv("CLNET_BINARY"), net_path(), args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    nraw = 0;
    for (;;) {
        ssize_t got = read(master, raw + nraw, sizeof raw - 1 - nraw);
        if (got > 0)
            nraw += (size_t)got;
        else if (got < 0 && errno == EINTR)
            continue;
        else
            break; /* EIO once the tool has closed the terminal */
        ck_assert_uint_lt(nraw, sizeof raw - 1);
    }
    raw[nraw] = '\0';
    close(master);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Trains 2 epochs on a cols-wide terminal and checks the screen:
 * the header (wrapped, as any long line), "Epoch 1/2", one line with
 * the step count, "Epoch 2/2", one line, the test line where split,
 * "Saved m.ckpt"; nothing else, and no row but the header's as wide as
 * the terminal. */
static void check_terminal(int cols, const char *columns_env, int width,
                           int split)
{
    write_data();
    char args[512];
    /* 8 steps of 32 either way */
    snprintf(args, sizeof args, "%s %s", ARGS,
             split ? "--val-split 0.2" : "--limit-train 256");
    int rc = run_tty(cols, columns_env, args);
    screen s;
    screen_init(&s, width);
    screen_feed(&s, raw, nraw);
    static char dump[1 << 16];
    screen_dump(&s, dump, sizeof dump);
    ck_assert_msg(rc == 0, "exit %d at %d columns:\n%s", rc, width, dump);
    ck_assert_msg(!s.bad, "unexpected control sequences at %d columns:\n%s",
                  width, raw);
    /* the header is the first line of the output: its rows */
    const char *nl = strstr(raw, "\r\n");
    ck_assert_ptr_nonnull(nl);
    int header = (int)((nl - raw) + width - 1) / width;
    ck_assert_msg(!strncmp(row(&s, 0), "Training ", 9), "%s", dump);
    const char *expect[] = {"Epoch 1/2", STEPS, "Epoch 2/2", STEPS,
                            split ? "test_" : "Saved m.ckpt", "Saved m.ckpt"};
    int lines = split ? 6 : 5;
    ck_assert_msg(screen_lines(&s) == header + lines,
                  "%d columns: %d lines on the screen, expected %d header "
                  "and %d more:\n%s",
                  width, screen_lines(&s), header, lines, dump);
    for (int i = 0; i < lines; i++) {
        const char *t = row(&s, header + i);
        if (i == 4 && split && !strncmp(t, "Test set: ", 10))
            t += 10;
        ck_assert_msg(!strncmp(t, expect[i], strlen(expect[i])),
                      "%d columns: line %d is not '%s...':\n%s", width,
                      header + i, expect[i], dump);
    }
    for (int i = header; i < screen_lines(&s); i++)
        ck_assert_msg((int)strlen(row(&s, i)) <= width - 1,
                      "%d columns: line %d is %zu wide:\n%s", width, i,
                      strlen(row(&s, i)), dump);
    /* the epoch's line keeps the validation accuracy while it can */
    if (width >= 30)
        for (int e = 0; e < 2; e++)
            ck_assert_msg(strstr(row(&s, header + 1 + 2 * e), "val_acc"),
                          "%d columns: no val_acc:\n%s", width, dump);
    /* redrawn in place: the bar at the first step, the validation pass
     * and, after a split run, the test pass */
    ck_assert_msg(strstr(raw, "\r1/8"), "no redrawn step line:\n%s", raw);
    ck_assert_msg(strstr(raw, "\rValidating "), "no validation progress");
    if (split)
        ck_assert_msg(strstr(raw, "\rTesting "), "no test progress");
}

START_TEST(terminal_80_columns)
{
    check_terminal(80, NULL, 80, 0);
    /* the bar where there is room for it, and its figures in full */
    ck_assert_msg(strstr(raw, "\r1/8 [==>"), "no bar:\n%s", raw);
    ck_assert_msg(strstr(raw, " - accuracy: "), "%s", raw);
}
END_TEST

START_TEST(terminal_80_columns_split)
{
    check_terminal(80, NULL, 80, 1);
}
END_TEST

START_TEST(terminal_30_columns)
{
    check_terminal(30, NULL, 30, 1);
}
END_TEST

/* Narrower than any line: each is cut to fit, still one row. */
START_TEST(terminal_20_columns)
{
    check_terminal(20, NULL, 20, 0);
}
END_TEST

/* A terminal that tells no size: $COLUMNS. */
START_TEST(terminal_without_size)
{
    check_terminal(0, "50", 50, 0);
}
END_TEST

/* Not a terminal: plain lines, no \r and no escape sequences, every
 * epoch's figures in full. */
START_TEST(not_a_terminal)
{
    write_data();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && COLUMNS=20 '%s' train '%s' %s 2>&1",
             test_tmpdir(), getenv("CLNET_BINARY"), net_path(),
             ARGS " --limit-train 256");
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    nraw = fread(raw, 1, sizeof raw - 1, p);
    raw[nraw] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(!strchr(raw, '\r') && !strchr(raw, 033), "%s", raw);
    int ends = 0;
    for (const char *l = raw; *l; l = strchr(l, '\n') + 1) {
        if (!strncmp(l, STEPS, strlen(STEPS))) {
            ends++;
            const char *nl = strchr(l, '\n');
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)(nl - l), l);
            ck_assert_msg(strstr(line, "ms/step - ") &&
                              strstr(line, " - loss: ") &&
                              strstr(line, " - val_accuracy: ") &&
                              strstr(line, " - data wait: "),
                          "%s", line);
        }
        if (!strchr(l, '\n'))
            break;
    }
    ck_assert_msg(ends == 2, "%d epoch lines in:\n%s", ends, raw);
    ck_assert_msg(strstr(raw, "\nEpoch 2/2\n"), "%s", raw);
}
END_TEST

/* The progress module itself on a "terminal" of every width from 1 to
 * 160 columns ($COLUMNS: a memory stream has no window size): the
 * header, redrawn step and validation lines, then the epoch's line leave
 * two lines, none as wide as the terminal, the longest form that fits. */
START_TEST(every_width)
{
    static char dump[1 << 16];
    clnet_epoch_stats st = {.epoch = 3, .loss = 0.2345, .accuracy = 0.9312,
                            .val_loss = 0.1234, .val_accuracy = 0.9876,
                            .seconds = 123.4, .images_per_second = 486.2,
                            .lr = 0.001, .data_wait = 0.012};
    for (int w = 1; w <= 160; w++) {
        char cols[16];
        snprintf(cols, sizeof cols, "%d", w);
        setenv("COLUMNS", cols, 1);
        char *buf = NULL;
        size_t n = 0;
        FILE *out = open_memstream(&buf, &n);
        cli_progress p;
        cli_progress_init(&p, out, 10, 0, NULL, 0);
        p.tty = 1;
        /* step 1 of 1875 after 1 s: 1874 s to go */
        cli_progress_step(3, 1, 1875, 0.5, 0.8, 1.0, &p);
        cli_progress_step(3, 1875, 1875, 0.2345, 0.9312, 123.4, &p);
        cli_progress_eval(0, 10000, &p);
        cli_progress_eval(10000, 10000, &p);
        cli_progress_epoch(&st, &p);
        fclose(out);
        screen s;
        screen_init(&s, w);
        screen_feed(&s, buf, n);
        screen_dump(&s, dump, sizeof dump);
        ck_assert_msg(!s.bad, "%d columns: bad sequences", w);
        ck_assert_msg(s.nrows == 3 && !row(&s, 2)[0],
                      "%d columns: %d rows:\n%s", w, s.nrows, dump);
        for (int i = 0; i < 2; i++)
            ck_assert_msg((int)strlen(row(&s, i)) <= w - 1,
                          "%d columns: row %d too wide:\n%s", w, i, dump);
        const char *line = row(&s, 1);
        const char *full = "1875/1875 - 123s 66ms/step - 486 img/s - "
                           "loss: 0.2345 - accuracy: 0.9312 - val_loss: "
                           "0.1234 - val_accuracy: 0.9876 - lr: 0.001 - "
                           "data wait: 1.2%";
        if (w > (int)strlen(full))
            ck_assert_str_eq(line, full);
        else if (w >= 24)
            ck_assert_msg(!strncmp(line, "1875/1875 - ", 12) &&
                              strstr(line, "val_acc"),
                          "%d columns: %s", w, line);
        else if (w > 1) { /* cut: the shortest form's first w - 1 */
            char cut[32];
            snprintf(cut, sizeof cut, "%.*s", w - 1,
                     "1875/1875 - val_acc: 0.9876");
            while (cut[0] && cut[strlen(cut) - 1] == ' ')
                cut[strlen(cut) - 1] = '\0';
            ck_assert_str_eq(line, cut);
        }
        if (w >= 80)
            ck_assert_msg(strstr(line, "loss: 0.2345 - "), "%d: %s", w, line);
        /* the first step's line: ETA as m:ss, the bar at full width
         * where there is room */
        if (w >= 120)
            ck_assert_msg(strstr(buf, "\r1/1875 [>......................"
                                      ".......] - ETA: 31:14 - loss: "
                                      "0.5000 - accuracy: 0.8000\033[K"),
                          "%d columns:\n%s", w, buf);
        if (w >= 40)
            ck_assert_msg(strstr(buf, "\rValidating 0/10000 ["),
                          "%d columns:\n%s", w, buf);
        free(buf);
    }
    unsetenv("COLUMNS");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("terminal");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_width);
    tcase_add_test(tc, terminal_80_columns);
    tcase_add_test(tc, terminal_80_columns_split);
    tcase_add_test(tc, terminal_30_columns);
    tcase_add_test(tc, terminal_20_columns);
    tcase_add_test(tc, terminal_without_size);
    tcase_add_test(tc, not_a_terminal);
    suite_add_tcase(s, tc);
    return test_run(s);
}
