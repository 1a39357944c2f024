package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenurehq/tenure/admin"
)

// tenure recommend: birthright suggestions and outliers from peers.

func recommendCommand() *cobra.Command {
	var q admin.RecommendQuery
	var attrs []string
	asYAML := false
	cmd := operatorCommand("recommend [--target NAME]... [--attribute PATH|NAME=CEL]... [--min-support N] [--min-confidence F] [-o text|json|yaml]",
		"suggest birthright rules from what peers hold, and list access rare among a person's peers (changes nothing)", 0, 0,
		func(ctx context.Context, op *operator, _ []string) error {
			q.Attributes = nil
			for _, a := range attrs {
				name, expr, _ := strings.Cut(a, "=")
				q.Attributes = append(q.Attributes, admin.RecommendAttribute{Name: strings.TrimSpace(name), Expr: strings.TrimSpace(expr)})
			}
			rep, err := op.client.Recommend(ctx, q)
			if err != nil {
				return err
			}
			if asYAML {
				writeRecommendYAML(op.stdout, rep)
				return nil
			}
			return op.print(rep, func(w io.Writer) { writeRecommendations(w, rep) })
		})
	// -o yaml is this command's own: the suggestions as a birthright
	// section to paste. The shared -o check knows text and json only, so
	// yaml is taken off the flag before it runs.
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if f := c.Flags().Lookup("output"); f.Value.String() == "yaml" {
			asYAML = true
			if err := f.Value.Set("text"); err != nil {
				return err
			}
		}
		return run(c, args)
	}
	cmd.GroupID = groupOperator
	f := cmd.Flags()
	f.Lookup("output").Usage = "output format: text, json, or yaml (the suggestions as a birthright section to paste)"
	f.StringArrayVar(&q.Targets, "target", nil, "analyse this target only (repeat for several; default all)")
	f.StringArrayVar(&attrs, "attribute", nil, "group people by this attribute: a path (title, enterprise.department) or NAME=CEL expression (repeat; default the policy's position attributes but the manager)")
	f.IntVar(&q.MinSupport, "min-support", 0, "members holding it, at least (default 5)")
	f.Float64Var(&q.MinConfidence, "min-confidence", 0, "share of the group holding it, at least (default 0.8)")
	f.IntVar(&q.MinGroupSize, "min-group", 0, "smallest peer group considered (default 5)")
	f.Float64Var(&q.Significance, "significance", 0, "chance a subgroup holds it this often by luck, at most (default 0.001; small organisations need more, e.g. 0.05)")
	f.Float64Var(&q.OutlierShare, "outlier-share", 0, "a peer group explains access this share of it holds, if twice everyone's (default 0.2; -1: no outliers)")
	f.BoolVar(&q.NoPairs, "no-pairs", false, "single attributes only, no pairs")
	f.BoolVar(&q.IncludeGranted, "include-granted", false, "also list rules the policy already has (marked covered)")
	f.IntVar(&q.MaxListed, "max-listed", 0, "people named per suggestion (default 20)")
	return cmd
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// groupText is a peer group as words: "everyone", or its conditions.
func groupText(cs []admin.RecommendCondition) string {
	if len(cs) == 0 {
		return "everyone"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Attribute + " = " + c.Value
	}
	return strings.Join(parts, ", ")
}

func names(im []string, count int) string {
	s := strings.Join(im, ", ")
	if count > len(im) {
		s += fmt.Sprintf(", … (%d more)", count-len(im))
	}
	return s
}

func writeRecommendations(w io.Writer, rep *admin.Recommendations) {
	fmt.Fprintf(w, "%d people, %d entitlements, %d peer groups; targets %s\n", rep.People, rep.Entitlements, rep.Groups, strings.Join(rep.Targets, ", "))
	for t, n := range rep.Unlinked {
		fmt.Fprintf(w, "%s: %d accounts no person links were left out\n", t, n)
	}
	fmt.Fprintf(w, "\nSuggested birthright rules: %d\n", len(rep.Suggestions))
	for _, s := range rep.Suggestions {
		covered := ""
		if s.Covered {
			covered = " (the policy grants it already)"
		}
		fmt.Fprintf(w, "\n%s: %s %s to %s%s\n", s.Rule, s.Target, s.Entitlement, groupText(s.Group), covered)
		fmt.Fprintf(w, "  %d of %d members hold it (%s), support %s, lift %.2f, granted %d\n",
			s.Holders, s.Members, pct(s.Confidence), pct(s.Support), s.Lift, s.Granted)
		if s.Gain.Count > 0 {
			fmt.Fprintf(w, "  would gain it (%d): %s\n", s.Gain.Count, names(s.Gain.People, s.Gain.Count))
		}
		if s.Adopt.Count > 0 {
			fmt.Fprintf(w, "  hold it outside the policy (%d): %s\n", s.Adopt.Count, names(s.Adopt.People, s.Adopt.Count))
		}
		for _, l := range strings.Split(strings.TrimRight(s.Block, "\n"), "\n") {
			fmt.Fprintln(w, "    "+l)
		}
	}
	fmt.Fprintf(w, "\nOutliers (access rare among peers): %d\n", len(rep.Outliers))
	for _, o := range rep.Outliers {
		moved := ""
		if o.Moved {
			moved = ", held under a previous position"
		}
		fmt.Fprintf(w, "  %s: %s %s (closest peers: %s, %s hold it%s)\n", o.Name, o.Target, o.Entitlement, groupText(o.Peers), pct(o.PeerShare), moved)
	}
}

// writeRecommendYAML writes the suggestions as a birthright section, each
// rule preceded by its numbers as a comment.
func writeRecommendYAML(w io.Writer, rep *admin.Recommendations) {
	fmt.Fprintf(w, "# tenure recommend at %s: %d people, targets %s; %d outliers (see -o text)\n",
		rep.At.Format("2006-01-02T15:04:05Z07:00"), rep.People, strings.Join(rep.Targets, ", "), len(rep.Outliers))
	fmt.Fprintln(w, "# Review each rule before pasting: the data says what is, not what should be.")
	if len(rep.Suggestions) == 0 {
		fmt.Fprintln(w, "birthright: []")
		return
	}
	fmt.Fprintln(w, "birthright:")
	for _, s := range rep.Suggestions {
		fmt.Fprintf(w, "  # %d of %d hold it (%s), lift %.2f; gains %d, adopts %d\n",
			s.Holders, s.Members, pct(s.Confidence), s.Lift, s.Gain.Count, s.Adopt.Count)
		for _, l := range strings.Split(strings.TrimRight(s.Block, "\n"), "\n") {
			fmt.Fprintln(w, "  "+l)
		}
	}
}
