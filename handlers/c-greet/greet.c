// A preview 1 handler in C: greets the person and echoes what they typed.
//
// It follows the shell contract: the input is in the `line` variable (and
// on stdin), the person's name in SANDBOT_USER_NAME, the reply goes to
// stdout and exit code 0 means success. Empty input is refused with exit
// code 2.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *line = getenv("line");
    const char *name = getenv("SANDBOT_USER_NAME");
    if (line == NULL || line[0] == '\0') {
        printf("Please type something after the command.\n");
        return 2;
    }
    if (name == NULL || name[0] == '\0') {
        name = "stranger";
    }
    printf("Hello, %s! You said: %s\n", name, line);
    return 0;
}
