package ext2_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/minidisk/minidisk/rootfs"
	"github.com/minidisk/minidisk/rootfs/ext2"
)

// Plan says whether a tree fits before anything is written; Write lays the
// filesystem into any io.WriterAt at a byte offset (here a sparse file, as
// a partition of a disk image would be); Open reads it back as an fs.FS.
func Example() {
	epoch := time.Unix(1190000000, 0).UTC()
	tree := rootfs.New(epoch)
	if err := tree.Mkdir("/etc", 0o755); err != nil {
		panic(err)
	}
	if err := tree.AddBytes("/etc/hostname", 0o644, []byte("minidisk\n")); err != nil {
		panic(err)
	}
	opt := ext2.Options{Blocks: 1024, Time: epoch}
	if _, err := ext2.Plan(tree, opt); err != nil {
		panic(err) // wraps ext2.ErrNoSpace when the tree does not fit
	}

	img := filepath.Join(os.TempDir(), "ext2-example.img")
	defer os.Remove(img)
	f, err := os.Create(img)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	st, err := ext2.Write(f, 0, tree, opt)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Blocks, "blocks of", st.BlockSize, "bytes")

	r, err := ext2.Open(f, 0, int64(st.Blocks)*int64(st.BlockSize))
	if err != nil {
		panic(err)
	}
	b, err := r.ReadFile("etc/hostname")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", b)
	// Output:
	// 1024 blocks of 1024 bytes
	// "minidisk\n"
}
