package web

import (
	"fmt"
	"strings"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// qrQuietZone is the white border around a QR code, in modules: the
// standard's four, without which phones read it badly.
const qrQuietZone = 4

// qrSVG draws text as a QR code in SVG, one path of black modules on a
// white square, with medium error correction (15 %): a projector's glare
// or a finger on a phone's lens still leaves it readable, while the code
// stays at the fewest modules, the largest ones, for the back of the room.
// The SVG scales to any size without blur; shape-rendering keeps the
// modules' edges sharp.
func qrSVG(text, label string) (string, error) {
	code, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return "", fmt.Errorf("QR code of %q: %w", text, err)
	}
	var m matrixWriter
	if err := code.Save(&m); err != nil {
		return "", fmt.Errorf("QR code of %q: %w", text, err)
	}
	size := len(m.bits) + 2*qrQuietZone
	var path strings.Builder
	for y, row := range m.bits {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", x+qrQuietZone, y+qrQuietZone, run, run)
			x += run
		}
	}
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="%s" data-modules="%d"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		size, size, escapeAttr(label), len(m.bits), size, size, path.String()), nil
}

// matrixWriter keeps the modules of a QR code.
type matrixWriter struct{ bits [][]bool }

func (w *matrixWriter) Write(mat qrcode.Matrix) error {
	w.bits = mat.Bitmap()
	return nil
}

func (w *matrixWriter) Close() error { return nil }

// escapeAttr escapes text for an attribute value.
func escapeAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;").Replace(s)
}
