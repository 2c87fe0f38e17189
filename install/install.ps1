# Installs atlassian-mcp-bridge into %LOCALAPPDATA%\Programs\atlassian-mcp-bridge and adds it to
# an AI desktop's MCP config.
#
#   install\install.ps1 <claude-desktop|claude-code|vscode|cursor> [path\to\binary.exe] [-Force]
#
# Without a binary: builds one with `cargo build --profile dist` when run from a checkout, else uses
# the atlassian-mcp-bridge already on PATH. -Force replaces an entry that runs another binary.
# ATLASSIAN_MCP_BRIDGE_HOME and ATLASSIAN_MCP_BRIDGE_CONFIG, when set, are written into the entry
# (apps started from the Start menu do not see this session's variables).
param(
    [Parameter(Mandatory = $true, Position = 0)]
    [ValidateSet('claude-desktop', 'claude-code', 'vscode', 'cursor')]
    [string]$Client,
    [Parameter(Position = 1)]
    [string]$Binary,
    [switch]$Force
)
$ErrorActionPreference = 'Stop'
$name = 'atlassian-mcp-bridge'
$repo = Split-Path -Parent $PSScriptRoot

if (-not $Binary) {
    $manifest = Join-Path $repo 'Cargo.toml'
    if ((Test-Path $manifest) -and (Select-String -Path $manifest -Pattern "^name = `"$name`"" -Quiet)) {
        Write-Host "building $name with cargo build --profile dist (several minutes: whole-program optimisation)"
        Push-Location $repo
        try {
            cargo build --profile dist
            if ($LASTEXITCODE -ne 0) { throw 'cargo build --profile dist failed' }
        } finally { Pop-Location }
        $Binary = Join-Path $repo "target\dist\$name.exe"
    } else {
        $found = Get-Command $name -CommandType Application -ErrorAction SilentlyContinue
        if (-not $found) { throw "no $name binary: pass its path, or run this from a checkout with cargo installed" }
        $Binary = $found[0].Source
    }
}
if (-not (Test-Path $Binary -PathType Leaf)) { throw "$Binary is not a file" }

# A running client keeps the old binary open; Windows lets it be renamed, not overwritten.
$dir = Join-Path $env:LOCALAPPDATA "Programs\$name"
New-Item -ItemType Directory -Force -Path $dir | Out-Null
$dest = Join-Path $dir "$name.exe"
if ((Resolve-Path $Binary).Path -ne $dest) {
    if (Test-Path $dest) {
        $old = "$dest.old"
        Remove-Item -Force $old -ErrorAction SilentlyContinue
        if (Test-Path $old) { $old = "$dest.$PID.old" }
        Move-Item $dest $old
    }
    Copy-Item $Binary $dest
    Write-Host "copied $Binary to $dest"
}

$installArgs = @('install', $Client)
if ($Force) { $installArgs += '--force' }
& $dest @installArgs
exit $LASTEXITCODE
