package master

import (
	"context"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/content"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/remap"
)

// cleanupUpload removes the temporary file of a WRQ whose worker died
// without finishing (crash, SIGKILL, deadline): the stock file handler
// writes uploads to content.TempName next to the target and removes it
// itself on every other path. The master runs outside the chroot, so the
// root is the chroot directory joined with the session's root. The file is
// removed only if no upload holds its lock (content.RemoveStaleUpload); a
// custom worker's files are never touched, only that reserved name.
func (m *Master) cleanupUpload(ho *ipc.Handoff) {
	if ho.Op != proto.OpWRQ || len(ho.Settings.Roots) == 0 {
		return
	}
	// The same resolution as the worker's: the remap rules first.
	name := ho.Filename
	if r := m.rules.Load(); r != nil {
		res := r.Apply(remap.Request{Filename: name, Write: true, Client: ho.Peer.Addr()})
		if res.Abort || res.Filename == "" {
			return // refused: nothing was written
		}
		name = res.Filename
	}
	root, rel, err := content.Resolve(name, ho.Settings.Roots, ho.Settings.Flags&ipc.FlagSecure != 0)
	if err != nil {
		return
	}
	if c := m.cfg.Sandbox.Chroot; c != "" {
		root = filepath.Join(c, root)
	}
	removed, err := content.RemoveStaleUpload(root, rel)
	switch {
	case err != nil:
		m.log.Warn("removing a crashed upload's temporary file", zap.String("session_id", ho.SessionID),
			zap.String("file", ho.Filename), zap.Error(err))
	case removed:
		m.log.Info("removed a crashed upload's temporary file", zap.String("session_id", ho.SessionID),
			zap.String("file", ho.Filename))
	}
}

// sweepUploads removes, once at start, the upload temporary files that a
// server killed as a whole left in the roots (nothing was left to clean
// them up): see content.SweepStaleUploads. It runs beside serving; a
// temporary file a running upload holds is never touched.
func (m *Master) sweepUploads(ctx context.Context) {
	for _, root := range m.cfg.Settings.Roots {
		if c := m.cfg.Sandbox.Chroot; c != "" {
			root = filepath.Join(c, root)
		}
		removed, err := content.SweepStaleUploads(ctx, root)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("sweeping orphaned upload temporary files", zap.String("root", root), zap.Error(err))
		}
		if len(removed) > 0 {
			m.log.Info("removed orphaned upload temporary files", zap.String("root", root), zap.Strings("files", removed[:min(len(removed), 20)]),
				zap.Int("count", len(removed)))
		}
	}
}
