package stats

import "github.com/fbtftp-go/fbtftp/tftp"

// The origin vocabulary is package tftp's.
type (
	OriginError = tftp.OriginError
	OriginStats = tftp.OriginStats
)

// The origin error classes.
const (
	OriginConnect      = tftp.OriginConnect
	OriginTimeout      = tftp.OriginTimeout
	OriginStatus4xx    = tftp.OriginStatus4xx
	OriginStatus5xx    = tftp.OriginStatus5xx
	OriginStatusOther  = tftp.OriginStatusOther
	OriginBody         = tftp.OriginBody
	OriginTooLarge     = tftp.OriginTooLarge
	NumOriginErrors    = tftp.NumOriginErrors
	MaxOriginLatencies = tftp.MaxOriginLatencies
)

// OriginErrorLabels are the classes' label values, indexed by OriginError;
// the Stats message carries one count per class in this order. Read it,
// never change it.
var OriginErrorLabels = [NumOriginErrors]string{
	"connect", "timeout", "status_4xx", "status_5xx", "status_other", "body", "too_large",
}
