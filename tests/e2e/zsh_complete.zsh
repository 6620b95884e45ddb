#!/usr/bin/zsh -f
# zsh_complete.zsh SCRIPT LINE: types LINE and then <TAB> into an interactive zsh on a pty (zpty)
# with the completion system loaded (compinit) and SCRIPT sourced, and prints the candidates the
# completion offered, one a line, in the order they were added. A test's driver of
# `lxbox completion zsh` as a user's <TAB> runs it (tests/e2e/install_cli_test.cpp).
zmodload zsh/zpty || exit 2
zpty shell zsh -f -i
zpty -w shell 'PROMPT= RPROMPT=; autoload -Uz compinit; compinit -u -D'
zpty -w shell "source ${(q)1}"
zpty -w shell 'bindkey "^I" complete-word'
# Markers around one completion, and every match that compadd adds printed as "=MATCH".
zpty -w shell 'mark_begin() { print -r -- @@begin@@ }; mark_end() { print -r -- @@end@@ }'
zpty -w shell 'compprefuncs=(mark_begin); comppostfuncs=(mark_end)'
zpty -w shell 'compadd() { local -a got; builtin compadd -A got "$@"; print -rl -- "=${^got[@]}"; builtin compadd "$@" }'
# The quotes keep the echo of this command line from matching: only its output does.
zpty -w shell "print -r -- @@rea''dy@@"
line=
while zpty -r shell line; do [[ $line == *@@ready@@* ]] && break; done
zpty -w -n shell "$2"$'\t'
started=0
while zpty -r shell line; do
    line=${line//$'\r'/}; line=${line%$'\n'}
    if [[ $line == *@@begin@@* ]]; then started=1; continue; fi
    [[ $line == *@@end@@* ]] && break
    (( started )) && [[ $line == '='* ]] && print -r -- "${line#=}"
done
zpty -d shell
