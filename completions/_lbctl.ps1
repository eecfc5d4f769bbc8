
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'lbctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'lbctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'lbctl' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('arp-probe', 'arp-probe', [CompletionResultType]::ParameterValue, 'Ask the LAN who owns an IP (ARP for IPv4, NDP for IPv6) and report every responder')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Walk the troubleshooting ladder for a LoadBalancer Service (or every one with --all)')
            [CompletionResult]::new('pools', 'pools', [CompletionResultType]::ParameterValue, 'List CiliumLoadBalancerIPPools: blocks, usage, conflicts, validation errors, Services drawing from each')
            [CompletionResult]::new('policies', 'policies', [CompletionResultType]::ParameterValue, 'List CiliumL2AnnouncementPolicies: selectors, interfaces, IP kinds, bad-* conditions, matches')
            [CompletionResult]::new('leases', 'leases', [CompletionResultType]::ParameterValue, 'List L2 announcement leases: Service, holder, renew age, expiry, holder node readiness')
            [CompletionResult]::new('lab', 'lab', [CompletionResultType]::ParameterValue, 'The embedded lab: an in-memory Kubernetes API server preloaded with a scenario')
            [CompletionResult]::new('debug', 'debug', [CompletionResultType]::ParameterValue, 'Ask a running `lbctl serve` on this host what it does (over its local socket)')
            [CompletionResult]::new('crds', 'crds', [CompletionResultType]::ParameterValue, 'Print the Cilium-compatible CRDs (pools, L2 policies, CiliumNodes) lbctl serves, as YAML: `lbctl crds | kubectl apply -f -` on a cluster without Cilium')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the engine on a node: LB IPAM (leader-elected) and/or the L2 announcer')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages (one per subcommand) into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'lbctl;arp-probe' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to probe on [default: the one the kernel routes IP through]')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to probe on [default: the one the kernel routes IP through]')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Most requests to send')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Most requests to send')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Gap between requests, at least 10ms [default: 100ms, or 1s with --watch]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nobody answered within this time (more than 0)')
            [CompletionResult]::new('--dup-window', '--dup-window', [CompletionResultType]::ParameterName, 'After the first answer, keep listening this long for a second owner')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'With --watch: stop after this long [default: until interrupted]')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Keep probing and listening for gratuitous ARP / unsolicited NA; print every change of owner with a timestamp')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;doctor' {
            [CompletionResult]::new('--cilium-namespace', '--cilium-namespace', [CompletionResultType]::ParameterName, 'Namespace of the Cilium agent (cilium-config and the L2 leases)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every LoadBalancer Service (of the namespace, or of the cluster with -A), one row each')
            [CompletionResult]::new('--no-probe', '--no-probe', [CompletionResultType]::ParameterName, 'Do not probe the VIP with ARP/NDP (rung 4 is then skipped); doctor otherwise probes when this host shares the VIP''s L2 segment')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;pools' {
            [CompletionResult]::new('--cilium-namespace', '--cilium-namespace', [CompletionResultType]::ParameterName, 'Namespace of the Cilium agent (cilium-config and the L2 leases)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;policies' {
            [CompletionResult]::new('--cilium-namespace', '--cilium-namespace', [CompletionResultType]::ParameterName, 'Namespace of the Cilium agent (cilium-config and the L2 leases)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;leases' {
            [CompletionResult]::new('--cilium-namespace', '--cilium-namespace', [CompletionResultType]::ParameterName, 'Namespace of the Cilium agent (cilium-config and the L2 leases)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;lab' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Serve the lab API server until Ctrl-C / SIGTERM')
            [CompletionResult]::new('scenarios', 'scenarios', [CompletionResultType]::ParameterValue, 'List the embedded scenarios')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Tell the article''s story on an in-process lab: a <pending> Service, doctor, the fixes')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'lbctl;lab;up' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on; port 0 picks a free port')
            [CompletionResult]::new('--scenario', '--scenario', [CompletionResultType]::ParameterName, 'Scenario to preload: an embedded name (see `lbctl lab scenarios`) or a YAML file. Repeatable')
            [CompletionResult]::new('--kubeconfig-out', '--kubeconfig-out', [CompletionResultType]::ParameterName, 'Where to write the kubeconfig (default: a file in the temp directory named after the port)')
            [CompletionResult]::new('--request-log', '--request-log', [CompletionResultType]::ParameterName, 'Append every request the lab serves to FILE, one JSON object per line (method, path, query, status, user agent): to see exactly what a client does')
            [CompletionResult]::new('--fault', '--fault', [CompletionResultType]::ParameterName, 'Fail requests on purpose: METHOD:PATH-SUBSTRING:STATUS[:COUNT] (METHOD may be `*`; COUNT defaults to 1), e.g. `PATCH:/status:409:2`. Repeatable')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('--no-engine', '--no-engine', [CompletionResultType]::ParameterName, 'Run no engine: by default LB IPAM (`lbctl serve --ipam`) runs in the lab''s process, so Services get their IPs once a pool exists')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;lab;scenarios' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;lab;demo' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('--unattended', '--unattended', [CompletionResultType]::ParameterName, 'Do not wait for Enter between steps (the default when stdin is not a terminal)')
            [CompletionResult]::new('--no-lan', '--no-lan', [CompletionResultType]::ParameterName, 'Do not build the namespace LAN even as root (the ARP steps are then skipped)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;lab;help' {
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Serve the lab API server until Ctrl-C / SIGTERM')
            [CompletionResult]::new('scenarios', 'scenarios', [CompletionResultType]::ParameterValue, 'List the embedded scenarios')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Tell the article''s story on an in-process lab: a <pending> Service, doctor, the fixes')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'lbctl;lab;help;up' {
            break
        }
        'lbctl;lab;help;scenarios' {
            break
        }
        'lbctl;lab;help;demo' {
            break
        }
        'lbctl;lab;help;help' {
            break
        }
        'lbctl;debug' {
            [CompletionResult]::new('--debug-socket', '--debug-socket', [CompletionResultType]::ParameterName, 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('l2-announce', 'l2-announce', [CompletionResultType]::ParameterValue, 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered')
            [CompletionResult]::new('devices', 'devices', [CompletionResultType]::ParameterValue, 'Network devices: name, index, MAC, whether selected for announcing and why not')
            [CompletionResult]::new('ipam', 'ipam', [CompletionResultType]::ParameterValue, 'The IPAM engine in this process: leadership, pools and their counts')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'lbctl;debug;l2-announce' {
            [CompletionResult]::new('--debug-socket', '--debug-socket', [CompletionResultType]::ParameterName, 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;debug;devices' {
            [CompletionResult]::new('--debug-socket', '--debug-socket', [CompletionResultType]::ParameterName, 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;debug;ipam' {
            [CompletionResult]::new('--debug-socket', '--debug-socket', [CompletionResultType]::ParameterName, 'The socket of the running serve, as given to its --debug-socket (default: the path serve uses by default)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;debug;help' {
            [CompletionResult]::new('l2-announce', 'l2-announce', [CompletionResultType]::ParameterValue, 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered')
            [CompletionResult]::new('devices', 'devices', [CompletionResultType]::ParameterValue, 'Network devices: name, index, MAC, whether selected for announcing and why not')
            [CompletionResult]::new('ipam', 'ipam', [CompletionResultType]::ParameterValue, 'The IPAM engine in this process: leadership, pools and their counts')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'lbctl;debug;help;l2-announce' {
            break
        }
        'lbctl;debug;help;devices' {
            break
        }
        'lbctl;debug;help;ipam' {
            break
        }
        'lbctl;debug;help;help' {
            break
        }
        'lbctl;crds' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;serve' {
            [CompletionResult]::new('--l2-lease-prefix', '--l2-lease-prefix', [CompletionResultType]::ParameterName, 'Name prefix of the per-Service announcement leases (Cilium''s, so a mixed or migrating cluster never announces a VIP twice)')
            [CompletionResult]::new('--debug-socket', '--debug-socket', [CompletionResultType]::ParameterName, 'Unix socket for `lbctl debug` (default: /run/lbctl/debug.sock as root)')
            [CompletionResult]::new('--node-name', '--node-name', [CompletionResultType]::ParameterName, 'This node''s name: the lease holder identity (default: $NODE_NAME, then the hostname)')
            [CompletionResult]::new('--lease-duration', '--lease-duration', [CompletionResultType]::ParameterName, 'How long a non-leader waits after the last renew before taking the IPAM lease')
            [CompletionResult]::new('--renew-deadline', '--renew-deadline', [CompletionResultType]::ParameterName, 'How long the leader may fail to renew before it stops writing and answering')
            [CompletionResult]::new('--retry-period', '--retry-period', [CompletionResultType]::ParameterName, 'Interval between lease attempts')
            [CompletionResult]::new('--metrics-addr', '--metrics-addr', [CompletionResultType]::ParameterName, 'Where to serve /metrics, /healthz and /readyz (port 0 picks a free port). The address may be bracketed whatever its family (`[$(POD_IP)]:9963` in a manifest); bind the pod''s own IP, not 0.0.0.0, on a host-network pod')
            [CompletionResult]::new('--field-manager', '--field-manager', [CompletionResultType]::ParameterName, 'Field manager of the status patches (use cilium-operator-lb-ipam to pose as Cilium)')
            [CompletionResult]::new('--max-requests-in-flight', '--max-requests-in-flight', [CompletionResultType]::ParameterName, 'At most this many API requests in flight at once, per engine (a thousand lease renewals queue instead of opening a thousand connections; kube''s client speaks HTTP/1.1)')
            [CompletionResult]::new('--default-lb-service-ipam', '--default-lb-service-ipam', [CompletionResultType]::ParameterName, 'Who serves Services without loadBalancerClass: lbipam (us) or none')
            [CompletionResult]::new('--lb-class', '--lb-class', [CompletionResultType]::ParameterName, 'loadBalancerClass values served besides none (repeatable)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('--ipam', '--ipam', [CompletionResultType]::ParameterName, 'Run LB IPAM: allocate Service IPs from CiliumLoadBalancerIPPools (default on)')
            [CompletionResult]::new('--no-ipam', '--no-ipam', [CompletionResultType]::ParameterName, 'Do not run LB IPAM')
            [CompletionResult]::new('--announce', '--announce', [CompletionResultType]::ParameterName, 'Run the L2 announcer: contend for each selected Service''s lease and answer ARP/NDP for its VIPs while leader (needs CAP_NET_RAW; default off, the DaemonSet turns it on)')
            [CompletionResult]::new('--no-announce', '--no-announce', [CompletionResultType]::ParameterName, 'Do not run the L2 announcer (the default)')
            [CompletionResult]::new('--enable-ipv6', '--enable-ipv6', [CompletionResultType]::ParameterName, 'Hand out IPv6 addresses to Services that ask for no family (Cilium''s enable-ipv6)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;completions' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;man' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Output directory')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Give up on an API request after this long without progress (connect, send, or wait for the answer), exiting 3; 0 waits forever. serve retries instead of exiting')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to look in (default: the context''s namespace, else "default"); for `serve`, the namespace of its leases (default kube-system)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output (NO_COLOR is honoured in auto mode)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Look in every namespace')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v info, -vv debug, -vvv trace)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'lbctl;help' {
            [CompletionResult]::new('arp-probe', 'arp-probe', [CompletionResultType]::ParameterValue, 'Ask the LAN who owns an IP (ARP for IPv4, NDP for IPv6) and report every responder')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Walk the troubleshooting ladder for a LoadBalancer Service (or every one with --all)')
            [CompletionResult]::new('pools', 'pools', [CompletionResultType]::ParameterValue, 'List CiliumLoadBalancerIPPools: blocks, usage, conflicts, validation errors, Services drawing from each')
            [CompletionResult]::new('policies', 'policies', [CompletionResultType]::ParameterValue, 'List CiliumL2AnnouncementPolicies: selectors, interfaces, IP kinds, bad-* conditions, matches')
            [CompletionResult]::new('leases', 'leases', [CompletionResultType]::ParameterValue, 'List L2 announcement leases: Service, holder, renew age, expiry, holder node readiness')
            [CompletionResult]::new('lab', 'lab', [CompletionResultType]::ParameterValue, 'The embedded lab: an in-memory Kubernetes API server preloaded with a scenario')
            [CompletionResult]::new('debug', 'debug', [CompletionResultType]::ParameterValue, 'Ask a running `lbctl serve` on this host what it does (over its local socket)')
            [CompletionResult]::new('crds', 'crds', [CompletionResultType]::ParameterValue, 'Print the Cilium-compatible CRDs (pools, L2 policies, CiliumNodes) lbctl serves, as YAML: `lbctl crds | kubectl apply -f -` on a cluster without Cilium')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the engine on a node: LB IPAM (leader-elected) and/or the L2 announcer')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages (one per subcommand) into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'lbctl;help;arp-probe' {
            break
        }
        'lbctl;help;doctor' {
            break
        }
        'lbctl;help;pools' {
            break
        }
        'lbctl;help;policies' {
            break
        }
        'lbctl;help;leases' {
            break
        }
        'lbctl;help;lab' {
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Serve the lab API server until Ctrl-C / SIGTERM')
            [CompletionResult]::new('scenarios', 'scenarios', [CompletionResultType]::ParameterValue, 'List the embedded scenarios')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Tell the article''s story on an in-process lab: a <pending> Service, doctor, the fixes')
            break
        }
        'lbctl;help;lab;up' {
            break
        }
        'lbctl;help;lab;scenarios' {
            break
        }
        'lbctl;help;lab;demo' {
            break
        }
        'lbctl;help;debug' {
            [CompletionResult]::new('l2-announce', 'l2-announce', [CompletionResultType]::ParameterValue, 'VIPs this node answers for: IP, interface, Service, since, requests seen and answered')
            [CompletionResult]::new('devices', 'devices', [CompletionResultType]::ParameterValue, 'Network devices: name, index, MAC, whether selected for announcing and why not')
            [CompletionResult]::new('ipam', 'ipam', [CompletionResultType]::ParameterValue, 'The IPAM engine in this process: leadership, pools and their counts')
            break
        }
        'lbctl;help;debug;l2-announce' {
            break
        }
        'lbctl;help;debug;devices' {
            break
        }
        'lbctl;help;debug;ipam' {
            break
        }
        'lbctl;help;crds' {
            break
        }
        'lbctl;help;serve' {
            break
        }
        'lbctl;help;completions' {
            break
        }
        'lbctl;help;man' {
            break
        }
        'lbctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
