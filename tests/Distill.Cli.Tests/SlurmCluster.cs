using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Distill.Cli.Tests;

/// <summary>
/// A real one-node Slurm cluster on this machine (Debian's slurmctld, slurmd and munge, installed by .ci/setup): a munge
/// daemon with a fresh key and its own socket, a slurm.conf naming this host as controller and only node, on free
/// ports, with state and spool folders in a temp folder; the daemons run as root and are stopped by PID at the end.
/// When the cluster does not come up, the fixture throws with the daemons' logs (the tests then fail, they never skip).
/// Commands that talk to it need <see cref="Environment"/> (SLURM_CONF).
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    private readonly string _folder;
    private readonly string _mungeFolder;
    private readonly List<string> _pidFiles = [];

    public SlurmCluster()
    {
        _folder = Directory.CreateTempSubdirectory("distill-slurm-").FullName;
        // munged refuses a socket folder that others cannot traverse: this one is /tmp/<name> with mode 755, owned by munge.
        _mungeFolder = Path.Combine(Path.GetTempPath(), "distill-munge-" + Guid.NewGuid().ToString("N")[..12]);
        ConfigPath = Path.Combine(_folder, "slurm.conf");
        try
        {
            Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string ConfigPath { get; }

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["SLURM_CONF"] = ConfigPath };

    private string MungeSocket => Path.Combine(_mungeFolder, "munge.sock");

    private void Start()
    {
        Directory.CreateDirectory(_mungeFolder);
        Must("chmod", "755", _mungeFolder);
        Must("chown", "munge:munge", _mungeFolder);
        string key = Path.Combine(_mungeFolder, "munge.key");
        Must("runuser", "-u", "munge", "--", "/usr/sbin/mungekey", "--create", "--keyfile=" + key);
        string mungePid = Path.Combine(_mungeFolder, "munged.pid");
        _pidFiles.Add(mungePid);
        Must("runuser", "-u", "munge", "--", "/usr/sbin/munged", "--key-file=" + key, "--socket=" + MungeSocket, "--pid-file=" + mungePid,
            "--log-file=" + Path.Combine(_mungeFolder, "munged.log"), "--seed-file=" + Path.Combine(_mungeFolder, "munge.seed"));

        string host = Must("hostname", "-s").Trim();
        long memoryMb = MemoryMb() * 8 / 10;
        Directory.CreateDirectory(Path.Combine(_folder, "state"));
        Directory.CreateDirectory(Path.Combine(_folder, "spool"));
        File.WriteAllText(ConfigPath, $"""
            ClusterName=distilltest
            SlurmctldHost={host}
            SlurmUser=root
            SlurmdUser=root
            SlurmctldPort={FreePort()}
            SlurmdPort={FreePort()}
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={MungeSocket}
            StateSaveLocation={_folder}/state
            SlurmdSpoolDir={_folder}/spool
            SlurmctldPidFile={_folder}/slurmctld.pid
            SlurmdPidFile={_folder}/slurmd.pid
            SlurmctldLogFile={_folder}/slurmctld.log
            SlurmdLogFile={_folder}/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core_Memory
            DefMemPerCPU=1024
            MpiDefault=none
            ReturnToService=2
            AccountingStorageType=accounting_storage/none
            JobAcctGatherType=jobacct_gather/none
            JobCompType=jobcomp/none
            NodeName={host} CPUs={System.Environment.ProcessorCount} RealMemory={memoryMb} State=UNKNOWN
            PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP

            """);
        _pidFiles.Add(Path.Combine(_folder, "slurmctld.pid"));
        Must("/usr/sbin/slurmctld", "-f", ConfigPath);
        _pidFiles.Add(Path.Combine(_folder, "slurmd.pid"));
        Must("/usr/sbin/slurmd", "-f", ConfigPath);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        string state = "";
        while (DateTime.UtcNow < deadline)
        {
            var (exit, output) = Run("sinfo", "-h", "-o", "%T");
            state = output.Trim();
            if (exit == 0 && state == "idle")
                return;
            Thread.Sleep(500);
        }
        throw new InvalidOperationException($"the one-node Slurm cluster did not become idle within 60 s (sinfo: '{state}')\n{Logs()}");
    }

    /// <summary>The daemons' logs, for a failure message.</summary>
    public string Logs()
    {
        var text = new StringBuilder();
        foreach (string log in new[] { Path.Combine(_mungeFolder, "munged.log"), Path.Combine(_folder, "slurmctld.log"), Path.Combine(_folder, "slurmd.log") })
        {
            text.AppendLine($"--- {log}");
            text.AppendLine(File.Exists(log) ? string.Join('\n', File.ReadAllLines(log).TakeLast(40)) : "(missing)");
        }
        return text.ToString();
    }

    /// <summary>Runs a Slurm command against this cluster; returns its exit code and stdout + stderr.</summary>
    public (int Exit, string Output) Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
            info.ArgumentList.Add(arg);
        info.Environment["SLURM_CONF"] = ConfigPath;
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    private string Must(string program, params string[] args)
    {
        var (exit, output) = Run(program, args);
        if (exit != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed (exit {exit}): {output}\n{Logs()}");
        return output;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static long MemoryMb()
    {
        string line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }

    public void Dispose()
    {
        // Daemons in reverse order of start, each by the PID it wrote.
        foreach (string pidFile in Enumerable.Reverse(_pidFiles))
        {
            if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid))
                continue;
            try
            {
                using var process = Process.GetProcessById(pid);
                Run("kill", "-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
                    process.Kill();
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
        foreach (string folder in new[] { _folder, _mungeFolder })
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}
