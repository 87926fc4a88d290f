package stats

import (
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// The session vocabulary is package tftp's.
type (
	Outcome      = tftp.Outcome
	Source       = tftp.Source
	SessionStats = tftp.SessionStats
)

// The session outcomes.
const (
	OutcomeSuccess      = tftp.OutcomeSuccess
	OutcomeProbe        = tftp.OutcomeProbe
	OutcomeNotFound     = tftp.OutcomeNotFound
	OutcomeAccessDenied = tftp.OutcomeAccessDenied
	OutcomeBadOptions   = tftp.OutcomeBadOptions
	OutcomeClientError  = tftp.OutcomeClientError
	OutcomeTimeout      = tftp.OutcomeTimeout
	OutcomeWorkerCrash  = tftp.OutcomeWorkerCrash
	OutcomeServerError  = tftp.OutcomeServerError
	OutcomeShutdown     = tftp.OutcomeShutdown
)

// Outcomes lists every Outcome, for metrics initialisation and
// validation. Read it, never change it.
var Outcomes = []Outcome{
	OutcomeSuccess, OutcomeProbe, OutcomeNotFound, OutcomeAccessDenied, OutcomeBadOptions,
	OutcomeClientError, OutcomeTimeout, OutcomeWorkerCrash, OutcomeServerError, OutcomeShutdown,
}

// OutcomeForCode maps an ERROR code the server sent to an outcome.
func OutcomeForCode(c proto.ErrorCode) Outcome {
	switch c {
	case proto.ErrNotFound:
		return OutcomeNotFound
	case proto.ErrAccessViolation, proto.ErrFileExists, proto.ErrNoSuchUser:
		return OutcomeAccessDenied
	case proto.ErrIllegalOp, proto.ErrOptionRefused:
		return OutcomeBadOptions
	default:
		return OutcomeServerError
	}
}

// The content sources.
const (
	SourceNone     = tftp.SourceNone
	SourceFile     = tftp.SourceFile
	SourceTemplate = tftp.SourceTemplate
	SourceOrigin   = tftp.SourceOrigin
	SourceCache    = tftp.SourceCache
	SourceCustom   = tftp.SourceCustom
)

// Sources lists every Source but SourceNone, for metrics. Read it, never
// change it.
var Sources = []Source{SourceFile, SourceTemplate, SourceOrigin, SourceCache, SourceCustom}
