"""A window that files can be dragged from, as from a file manager: a GTK 3 drag source offering
the paths given on the command line as a `text/uri-list`, through the X server's own drag and drop
(XDND). The window tests move the pointer over it with xdotool to drop files on the app.

Usage: drag_source.py X Y PATH...   (the window is placed at X, Y and is 160 x 120 pixels)
Prints "ready" once the window is shown; exits when the drag ends.
"""

import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

URI_LIST = 0


def main() -> None:
    x, y = int(sys.argv[1]), int(sys.argv[2])
    uris = [Path(path).resolve().as_uri() for path in sys.argv[3:]]

    window = Gtk.Window(title="drag source")
    window.set_default_size(160, 120)
    window.move(x, y)
    area = Gtk.EventBox()
    area.add(Gtk.Label(label="files"))
    window.add(area)

    targets = Gtk.TargetList.new([])
    targets.add_uri_targets(URI_LIST)
    area.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
    area.drag_source_set_target_list(targets)
    area.connect("drag-data-get", lambda _w, _c, data, _i, _t: data.set_uris(uris))
    area.connect("drag-end", lambda *_: Gtk.main_quit())
    window.connect("destroy", Gtk.main_quit)

    def announce(*_):
        print("ready", flush=True)
        return False

    window.connect("map-event", announce)
    window.show_all()
    Gtk.main()


if __name__ == "__main__":
    main()
