package mountinfo

import (
	"strings"
	"testing"
)

// The format is proc(5)'s; the lines are from a real system, with the octal
// escape the kernel uses for a space in a mount point.
func TestParse(t *testing.T) {
	in := "36 35 7:0 / /tmp/my\\040mnt ro,relatime shared:1 - ext2 /dev/loop0 ro\n" +
		"garbage\n" +
		"22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
	ms, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("got %d mounts: %+v", len(ms), ms)
	}
	if ms[0] != (Mount{Device: "7:0", MountPoint: "/tmp/my mnt", Source: "/dev/loop0"}) {
		t.Errorf("first: %+v", ms[0])
	}
	if ms[1].Device != "8:1" || ms[1].MountPoint != "/" {
		t.Errorf("second: %+v", ms[1])
	}
	if _, err := Read("/proc/self/mountinfo"); err != nil {
		t.Fatal(err)
	}
}
