/* main.c — (being written by the CLI work) */
#include "cli.h"
int main(void) { return 0; }
