package untrusted

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// ErrSymlink matches (errors.Is) Open's error for a file that is a symbolic link: it could point
// anywhere on the grading host, so it is never followed.
var ErrSymlink = errors.New("is a symbolic link")

// NotRegularError is Open's error for a file that is not a regular one: a symbolic link (it
// matches ErrSymlink), a directory, a device or a socket.
type NotRegularError struct {
	Name string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is not a regular file (a %s)", e.Name, Kind(e.Mode))
}

// Is makes a symbolic link's error match ErrSymlink.
func (e *NotRegularError) Is(target error) bool {
	return target == ErrSymlink && e.Mode&fs.ModeSymlink != 0
}

// Kind names what a file that is not a regular one is, for a learner: "symbolic link",
// "directory" or "special file".
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

// Open opens name, a plain relative path ("CAPACITY.yaml", "deploy/x.yaml"; never "../x",
// "/etc/x" or "./x"), inside the untrusted directory dir for reading. It is a regular file or an
// error: a symbolic link is a *NotRegularError that matches ErrSymlink, and so is anything else
// that is not a regular file; a missing file's error matches fs.ErrNotExist. The path is resolved
// inside dir (os.Root), so a link swapped in after the check still cannot leave it, and the file
// opened must be the one checked. The caller closes the file and applies its own size cap:
// info.Size() is what the file held when opened.
func Open(dir, name string) (f *os.File, info fs.FileInfo, err error) {
	if !fs.ValidPath(name) || name == "." || path.Clean(name) != name {
		return nil, nil, fmt.Errorf("read %s from the submission: not a plain relative path", name)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open the submission directory: %w", err)
	}
	defer root.Close()
	checked, err := root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !checked.Mode().IsRegular() {
		return nil, nil, &NotRegularError{Name: name, Mode: checked.Mode()}
	}
	// O_NONBLOCK: a FIFO swapped in after the check must not block the open.
	f, err = root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err = f.Stat()
	if err == nil && !os.SameFile(checked, info) {
		err = fmt.Errorf("%s changed while Holdfast opened it: leave the repository's files alone while it is graded", name)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}
