package rpc

import "context"

// CoordProfile returns the server's profile report for a window (decode it into loadtest.ProfileReport).
func (c *Client) CoordProfile(ctx context.Context, p ProfileParams) (*ProfileResult, error) {
	return call[ProfileResult](ctx, c, "coord.profile", p)
}
