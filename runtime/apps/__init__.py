"""The commands of `python -m runtime`: each module holds one command's body, which takes the
parsed arguments, prints, and returns the exit status (0 ok, 1 a check or a file failed, 2 it
could not start; parity's 3: nothing refused, a file unproven). Also what only a command needs: the frame sources of `watch` (frames: images and
folders; video; cameras; sources, which opens the one SOURCE names), the HTML report of `parity --report` (report/, matplotlib), the page server and
its certificate (serve, certificate).

May import: anything in runtime but the workstation package. Nothing imports the apps but
runtime/__main__.py."""
