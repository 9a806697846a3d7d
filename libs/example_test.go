package libs_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/minidisk/minidisk/libs"
)

// Resolve answers what `ldd` answers, without running the binary: the
// interpreter and every library ld.so would load, in its order, found in
// any root (here the host's; os.DirFS of a sysroot or an image's fs.FS
// work the same). Unresolved names come back as a *NotFoundError beside
// the partial closure. (Not run: the answer depends on the host.)
func ExampleResolver_Resolve() {
	c, err := libs.NewResolver(os.DirFS("/")).Resolve("/bin/busybox")
	var nf *libs.NotFoundError
	if errors.As(err, &nf) {
		fmt.Println("missing:", nf)
	} else if err != nil {
		panic(err)
	}
	if c.Interpreter != nil {
		fmt.Println("interpreter", c.Interpreter.Path)
	}
	for _, l := range c.Libraries {
		fmt.Println(l.Name, "=>", l.Path)
	}
}
