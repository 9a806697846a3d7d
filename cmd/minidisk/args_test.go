package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSplitImageArg(t *testing.T) {
	dir := t.TempDir()
	colon := filepath.Join(dir, "a:b.img")
	if err := os.WriteFile(colon, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ arg, img, name string }{
		{colon, colon, "/"},
		{colon + ":/bin/sh", colon, "/bin/sh"},
		{"disk.img:etc/inittab", "disk.img", "etc/inittab"},
		{"disk.img:", "disk.img", "/"},
		{"disk.img", "disk.img", "/"},
	} {
		img, name := splitImageArg(c.arg)
		if img != c.img || name != c.name {
			t.Errorf("splitImageArg(%q) = %q, %q; want %q, %q", c.arg, img, name, c.img, c.name)
		}
	}
}
