/*
 * cli_image.h - `orch image pull|import|ls|rm|gc|inspect`: the local image
 * store, driven directly (no server involved).
 */
#ifndef ORCH_CLI_IMAGE_H
#define ORCH_CLI_IMAGE_H

/* argv[0] is "image". Returns the process exit code. */
int cli_image_main(int argc, char **argv);

#endif
