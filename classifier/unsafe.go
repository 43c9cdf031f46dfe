package classifier

import "unsafe"

// unsafeString views b as a string without copying, for map lookups and
// segmentation of text built in a reused buffer. The string must not be
// kept past the buffer's next change.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// unsafeBytes views s as bytes without copying, for readers that take
// []byte and never write to it.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
