package kernel

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Config is a kernel's .config: symbol (without CONFIG_) → value.
type Config map[string]string

// State returns how the config sets sym (with or without the CONFIG_
// prefix): "y" built in, "m" a module, "n" explicitly off ("# CONFIG_X is
// not set"), the value of a string or number option, or "" when the
// config does not mention it (an option this kernel does not have, or
// whose dependencies are off).
func (c Config) State(sym string) string {
	return c[strings.TrimPrefix(sym, "CONFIG_")]
}

// ReadConfigFile reads a .config file (a distribution's
// /boot/config-RELEASE). The Config is shared with later calls for the
// same unchanged file (same size and modification time): create reads a
// kernel's config to decide on an initramfs and again when doctor checks
// the image. Callers must not modify it.
func ReadConfigFile(path string) (Config, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	key := configFileKey{path, fi.Size(), fi.ModTime().UnixNano()}
	if cfg, ok := configFiles.Load(key); ok {
		return cfg.(Config), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := Config(readConfig(data))
	if len(cfg) == 0 {
		return nil, fmt.Errorf("%s: no CONFIG_ lines: not a kernel config", path)
	}
	configFiles.Store(key, cfg)
	return cfg, nil
}

// configFiles holds the configs ReadConfigFile parsed, by file identity.
var configFiles sync.Map // configFileKey -> Config

type configFileKey struct {
	path    string
	size    int64
	modTime int64
}

// ConfigFor returns a kernel's config and where it came from, cheapest
// first: the file beside the kernel (Debian installs /boot/config-RELEASE
// next to /boot/vmlinuz-RELEASE; minidisk's kernel cache keeps "config"
// next to "bzImage"), else the config embedded with CONFIG_IKCONFIG, read
// by streaming the payload only as far as the config's end. A kernel
// without either gives a nil Config and no error.
func ConfigFor(kernelPath string) (Config, string, error) {
	cfg, from, info, err := configBeside(kernelPath)
	if err != nil || cfg != nil {
		return cfg, from, err
	}
	f, err := os.Open(kernelPath)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	info, err = InspectConfig(f, info.Size)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", kernelPath, err)
	}
	if info.Config == nil {
		if info.DecompressError != "" {
			return nil, "", fmt.Errorf("%s: no config file beside it and the payload could not be read: %s", kernelPath, info.DecompressError)
		}
		return nil, "", nil
	}
	return info.Config, kernelPath + " (embedded, CONFIG_IKCONFIG)", nil
}

// ConfigBeside is ConfigFor's cheap half: the config file beside the
// kernel, or a nil Config when there is none. It never decompresses.
func ConfigBeside(kernelPath string) (Config, string, error) {
	cfg, from, _, err := configBeside(kernelPath)
	return cfg, from, err
}

func configBeside(kernelPath string) (Config, string, *Info, error) {
	info, err := InspectHeaderFile(kernelPath)
	if err != nil {
		return nil, "", nil, err
	}
	dir := filepath.Dir(kernelPath)
	var cands []string
	if rel := info.Release(); rel != "" {
		cands = append(cands, filepath.Join(dir, "config-"+rel))
	}
	if filepath.Base(kernelPath) == "bzImage" {
		cands = append(cands, filepath.Join(dir, "config"))
	}
	for _, c := range cands {
		if cfg, err := ReadConfigFile(c); err == nil {
			return cfg, c, info, nil
		}
	}
	return nil, "", info, nil
}

// InspectConfig is Inspect without keeping the decompressed kernel: the
// payload is streamed until the embedded config has been read (or the
// stream ends, for a kernel without CONFIG_IKCONFIG), in a fixed buffer.
// Vmlinux and Builtin's string evidence are not available from its Info.
func InspectConfig(r io.ReaderAt, size int64) (*Info, error) {
	info, err := InspectHeader(r, size)
	if err != nil || info.DecompressError != "" {
		return info, err
	}
	payload := io.NewSectionReader(r, info.PayloadOffset, info.PayloadLength)
	src, release, err := payloadReader(info.Compression, payload)
	if err != nil {
		info.DecompressError = err.Error()
		return info, nil
	}
	defer release()
	cfg, err := streamConfig(src)
	if err != nil {
		info.DecompressError = err.Error()
	}
	if cfg != nil {
		info.Config = cfg
	}
	return info, nil
}

// streamConfig scans a decompressed kernel for kernel/configs.c's
// "IKCFG_ST" marker and gunzips the config after it.
func streamConfig(src io.Reader) (Config, error) {
	const marker = "IKCFG_ST"
	buf := make([]byte, 256<<10)
	keep, total := 0, 0
	for total < maxDecompressed {
		n, err := src.Read(buf[keep:])
		total += n
		data := buf[:keep+n]
		if i := bytes.Index(data, []byte(marker)); i >= 0 {
			zr, err := gzip.NewReader(io.MultiReader(bytes.NewReader(data[i+len(marker):]), src))
			if err != nil {
				return nil, fmt.Errorf("embedded config: %w", err)
			}
			zr.Multistream(false)
			cfg, _ := io.ReadAll(io.LimitReader(zr, maxConfig))
			return Config(readConfig(cfg)), nil
		}
		switch {
		case err == io.EOF:
			return nil, nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("payload truncated after %d decompressed bytes", total)
		case err != nil:
			return nil, fmt.Errorf("payload decompression stopped after %d bytes: %w", total, err)
		}
		keep = min(len(data), len(marker)-1)
		copy(buf, data[len(data)-keep:])
	}
	return nil, nil
}
