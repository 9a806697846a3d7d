//go:build !linux

package flash

import "context"

// Flash needs Linux.
func Flash(ctx context.Context, img, dev string, o Options) (*Device, error) {
	return nil, ErrNeedLinux
}
