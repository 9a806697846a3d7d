package cpio_test

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/cpio"
)

// A newc archive as the kernel unpacks an initramfs: a header per entry,
// then exactly Size bytes of content; Close writes the TRAILER!!! entry.
// The Reader walks it back.
func ExampleWriter() {
	epoch := time.Unix(1190000000, 0)
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	if err := w.WriteHeader(&rootfs.Header{Name: "/etc", Type: rootfs.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
		panic(err)
	}
	init := []byte("#!/bin/sh\nexec sh\n")
	if err := w.WriteHeader(&rootfs.Header{Name: "/init", Type: rootfs.TypeReg, Mode: 0o755, Size: int64(len(init)), ModTime: epoch}); err != nil {
		panic(err)
	}
	if _, err := w.Write(init); err != nil {
		panic(err) // more than Size bytes: errors.Is(err, cpio.ErrWriteTooLong)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}

	r := cpio.NewReader(&buf)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %o %d\n", h.Name, h.Mode, h.Size)
	}
	// Output:
	// /etc 755 0
	// /init 755 18
}
