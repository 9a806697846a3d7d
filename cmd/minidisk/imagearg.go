package main

import (
	"fmt"
	"os"
	"strings"
)

// splitImagePath reads an IMG[:PATH] argument. The image is the longest
// prefix that names an existing file, so neither "a:b.img" (a file with a
// colon in its name) nor "disk.img:/etc/inittab" is misread; an argument
// that names no file is an error that says so for the whole argument.
func splitImagePath(arg string) (img, name string, err error) {
	if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
		return arg, "/", nil
	}
	for i := len(arg) - 1; i > 0; i-- {
		if arg[i] != ':' {
			continue
		}
		if fi, err := os.Stat(arg[:i]); err == nil && !fi.IsDir() {
			name = arg[i+1:]
			if name == "" {
				name = "/"
			}
			return arg[:i], name, nil
		}
	}
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		return "", "", fmt.Errorf("%s: a directory, not a disk image (give IMG or IMG:PATH)", arg)
	}
	if i := strings.IndexByte(arg, ':'); i > 0 {
		return "", "", fmt.Errorf("%s: no such image, and no image %s to read %s from (give IMG or IMG:PATH)", arg, arg[:i], arg[i+1:])
	}
	return "", "", fmt.Errorf("%s: no such image (make one with `minidisk create`)", arg)
}
